"""Ledger (+ splits.json, verification_report.json) → report.html: a page a person looks at.

Numbers in JSON do not show that the frames are faces and not black fades. The page is one static
file: a contact sheet per category, the split table, failures by reason, verification findings with
their thumbnails, and charts as inline SVG — no JavaScript, nothing fetched from the network. The
thumbnails are small JPEGs (decoded with DCT scaling, so cheap even from 1080p frames), never the
full-size frames, inlined into the page as data: URIs: the page is one file that can be mailed, and
nothing but class folders sits beside `ai/` and `real/` (torchvision's ImageFolder and the Hugging Face
imagefolder loader take every sub-folder of the output folder for a class).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

from dfdx.files import write_text_atomic
from dfdx.inspect.report import build_report
from dfdx.inspect.verify import FLAGS
from dfdx.layout import ASSETS_DIR, HTML_NAME, SPLITS_NAME, VERIFY_NAME
from dfdx.ledger import LedgerEntry, LedgerState, load_state

THUMBS_PER_CATEGORY = 24
FINDINGS_SHOWN = 48
THUMB_WIDTH = 160
BOXED_PER_CATEGORY = 6
PREVIEW_WIDTH = 480  # the full frames a face box is drawn on
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}
.sheet{display:flex;flex-wrap:wrap;gap:8px}.sheet figure{margin:0;width:160px}
.sheet img{width:160px;display:block;background:#eee}.boxes figure,.boxes img{width:320px}
figcaption{font-size:11px;word-break:break-all;color:#555}.charts{display:flex;flex-wrap:wrap;gap:24px}
.bad{color:#a00}.flag{color:#a60}
"""


def sample_videos(entries: Iterable[LedgerEntry], n: int) -> list[LedgerEntry]:
    """A stable spread of n videos: the lowest hashes of their names (the same every time)."""
    return sorted(entries, key=lambda e: hashlib.sha256(e.video.encode("utf-8", "surrogateescape")).digest())[:n]


def make_thumbnail(source: Path) -> str | None:
    """A small JPEG of one frame as a data: URI; None when the frame cannot be read (no image shown)."""
    try:
        data = source.read_bytes()
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        scaled_h = max(1, THUMB_WIDTH * h // max(w, 1))
        image = simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=min(w, THUMB_WIDTH),
                                       min_height=min(h, scaled_h))  # fmt: skip
        jpeg = simplejpeg.encode_jpeg(image, quality=80, colorspace="RGB")
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def write_html_report(out: Path, report: dict[str, Any] | None = None, ledger: LedgerState | None = None,
                      dataset_root: Path | None = None) -> Path:
    """`report` and `ledger`: the extraction report and the ledger state it was built from, if the caller
    has them; `dataset_root`: where the videos are (face crops' full frames are decoded from them)."""
    out = Path(out)
    ledger = ledger or load_state(out)
    state = ledger.videos
    report = report or build_report(out, ledger)
    splits = _load_json(out / SPLITS_NAME)
    verification = _load_json(out / VERIFY_NAME)
    _remove_legacy_assets(out)

    ok_by_category: dict[str, list[LedgerEntry]] = {}
    for entry in sorted(state.values(), key=lambda e: e.video):
        if entry.status == "ok" and entry.frames:
            ok_by_category.setdefault(entry.category, []).append(entry)
    sheets = {
        cat: [(e.video, e.frames[len(e.frames) // 2]) for e in sample_videos(items, THUMBS_PER_CATEGORY)]
        for cat, items in sorted(ok_by_category.items())
    }
    findings = (verification or {}).get("findings", [])[:FINDINGS_SHOWN]
    wanted = {f.path for shown in sheets.values() for _, f in shown} | {f["path"] for f in findings}
    boxed = {cat: _boxed_previews(dataset_root, items) for cat, items in sorted(ok_by_category.items())}
    thumbs = _make_thumbnails(out, wanted)

    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>dfdx report: {_e(report['output_dir'])}</title><style>{CSS}</style></head><body>",
        f"<h1>dfdx report</h1><p>{_e(report['output_dir'])} — generated {_e(report['generated_at'])}</p>",
        _totals_table(report),
        _charts(report, state.values()),
        _labels_section(report),
    ]
    for cat, shown in sheets.items():
        parts.append(f"<h2>Contact sheet: {_e(cat)} ({len(shown)} of {len(ok_by_category[cat])} videos)</h2>")
        parts.append('<div class="sheet">')
        for video, frame in shown:
            parts.append(_figure(thumbs.get(frame.path), f"{video} @ {frame.position:.3f}"))
        parts.append("</div>")
    if dataset_root is None and any(f.box for items in ok_by_category.values() for e in items for f in e.frames):
        parts.append("<p>Face boxes on full frames need the videos: run <code>dfdx report --html</code> with "
                     "<code>--dataset-path</code>.</p>")  # fmt: skip
    for cat, shown in boxed.items():
        if shown:
            parts.append(f"<h2>Face boxes: {_e(cat)} (full frames, the detector's box in red)</h2>")
            parts.append('<div class="sheet boxes">' + "".join(_figure(src, cap) for src, cap in shown) + "</div>")
    parts.append(_splits_section(splits))
    parts.append(_failures_section(report))
    parts.append(_verification_section(verification, findings, thumbs))
    parts.append("</body></html>\n")
    return write_text_atomic(out / HTML_NAME, "\n".join(parts))


def _make_thumbnails(out: Path, frame_paths: set[str]) -> dict[str, str]:
    """Frame path → thumbnail data: URI, made in a thread pool (simplejpeg releases the GIL)."""
    paths = sorted(frame_paths)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        made = list(pool.map(lambda p: make_thumbnail(out / p), paths))
    return {p: uri for p, uri in zip(paths, made, strict=True) if uri is not None}


def _remove_legacy_assets(out: Path) -> None:
    """dfdx before 0.2 kept thumbnails in OUTPUT/report_assets/, which image-folder loaders take for a
    class: remove that folder when it holds nothing but those thumbnails."""
    legacy = out / ASSETS_DIR
    with contextlib.suppress(OSError):
        if legacy.is_dir() and all(p.is_file() and p.suffix == ".jpg" for p in legacy.iterdir()):
            shutil.rmtree(legacy)


def _labels_section(report: dict[str, Any]) -> str:
    """One table per label the profile gives (method, compression): videos and frames per category."""
    parts = []
    for key, title in (("methods", "Method"), ("compression", "Compression")):
        table = report.get(key) or {}
        if not table:
            continue
        cats = sorted({c for per in table.values() for c in per})
        head = "".join(f"<th>{_e(c)} videos</th><th>{_e(c)} frames</th>" for c in cats)
        rows = []
        for value, per in table.items():
            cells = "".join(f'<td data-key="{key}.{_e(value)}.{_e(c)}.videos">{per.get(c, {}).get("videos", 0)}</td>'
                            f'<td data-key="{key}.{_e(value)}.{_e(c)}.frames">{per.get(c, {}).get("frames", 0)}</td>'
                            for c in cats)  # fmt: skip
            rows.append(f"<tr><td>{_e(value)}</td>{cells}</tr>")
        parts.append(f"<h2>By {title.lower()}</h2><table><tr><th>{title}</th>{head}</tr>{''.join(rows)}</table>")
    unlabelled = report.get("unlabelled") or {}
    if unlabelled.get("videos"):
        examples = ", ".join(_e(v) for v in unlabelled["examples"])
        parts.append(f"<h2>Unlabelled</h2><p>{unlabelled['videos']} video file(s) have no label and were not "
                     f"extracted, e.g. {examples}.</p>")  # fmt: skip
    for note in report.get("notes") or []:
        parts.append(f"<p>note x{note['count']}: {_e(note['note'])} (e.g. {_e(note['examples'][0])})</p>")
    return "\n".join(parts)


def _boxed_previews(dataset_root: Path | None, entries: list[LedgerEntry]) -> list[tuple[str, str]]:
    """`crop: face`: a few full frames with each face box drawn, as data: URIs. The full frame is not on
    disk (only the crops are), and nothing but class folders may sit beside them, so it is decoded from
    the dataset now; without the dataset the section says so."""
    shown = []
    with_boxes = [e for e in entries if any(f.box for f in e.frames)]
    if dataset_root is None:
        return shown
    for entry in sample_videos(with_boxes, BOXED_PER_CATEGORY):
        boxed = [f for f in entry.frames if f.box]
        middle = boxed[len(boxed) // 2].index
        frames = [f for f in boxed if f.index == middle]
        uri = draw_boxes(full_frame(dataset_root / entry.video, frames[0].pts_s), entry, frames)
        if uri is not None:
            caption = f"{entry.video} @ {frames[0].pts_s:.3f} s: " + ", ".join(f"{f.box}" for f in frames)
            shown.append((uri, caption))
    return shown


def full_frame(video: Path, pts_s: float) -> bytes | None:
    """One displayed frame (rotation applied, as the boxes are) at `pts_s`, at most PREVIEW_WIDTH wide, as
    a JPEG; None when the video cannot be read. The seek starts half a millisecond early because pts_s is
    rounded to the microsecond and ffmpeg's -ss returns the first frame at or after it."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-ss", f"{max(0.0, pts_s - 0.0005):.6f}",
            "-i", f"file:{video.absolute()}", "-frames:v", "1", "-vf", f"scale='min({PREVIEW_WIDTH},iw)':-2",
            "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "3", "pipe:1"]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None


def draw_boxes(jpeg: bytes | None, entry: LedgerEntry, frames: list[Any]) -> str | None:
    """The frame with each box (source pixels, scaled to the frame shown) outlined in red, as a data: URI."""
    try:
        image = np.array(simplejpeg.decode_jpeg(jpeg or b"", colorspace="RGB"))
    except ValueError:
        return None
    ph, pw = image.shape[:2]
    sx, sy = pw / (entry.width or pw), ph / (entry.height or ph)
    for f in frames:
        x, y, w, h = f.box
        x0, y0 = max(0, round(x * sx)), max(0, round(y * sy))
        x1, y1 = min(pw - 1, round((x + w) * sx)), min(ph - 1, round((y + h) * sy))
        for ys, xs in ((slice(y0, y0 + 2), slice(x0, x1 + 1)), (slice(y1 - 1, y1 + 1), slice(x0, x1 + 1)),
                       (slice(y0, y1 + 1), slice(x0, x0 + 2)), (slice(y0, y1 + 1), slice(x1 - 1, x1 + 1))):
            image[ys, xs] = (255, 0, 0)
    jpeg_out = simplejpeg.encode_jpeg(image, quality=85, colorspace="RGB")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_out).decode("ascii")


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _figure(src: str | None, caption: str) -> str:
    image = f'<img src="{_e(src)}" alt="{_e(caption)}" loading=lazy>' if src else '<div class="bad">unreadable</div>'
    return f"<figure>{image}<figcaption>{_e(caption)}</figcaption></figure>"


def _totals_table(report: dict[str, Any]) -> str:
    rows = ["<table><tr><th>category</th><th>videos</th><th>ok</th><th>failed</th><th>frames</th><th>MB</th></tr>"]
    for cat, c in report["videos"].items():
        rows.append(
            f"<tr><td>{_e(cat)}</td><td data-key='videos.{_e(cat)}'>{c['videos']}</td><td data-key='ok.{_e(cat)}'>"
            f"{c['ok']}</td><td data-key='failed.{_e(cat)}'>{c['failed']}</td>"
            f"<td data-key='frames.{_e(cat)}'>{report['frames'].get(cat, 0)}</td>"
            f"<td>{report['bytes'].get(cat, 0) / 1e6:.1f}</td></tr>"
        )
    t = report["totals"]
    rows.append(f"<tr><th>total</th><th data-key='videos.total'>{t['videos']}</th><th data-key='ok.total'>{t['ok']}"
                f"</th><th data-key='failed.total'>{t['failed']}</th><th data-key='frames.total'>{t['frames']}</th>"
                f"<th>{t['bytes'] / 1e6:.1f}</th></tr></table>")  # fmt: skip
    timing = report["timing"]
    if timing["videos_per_s"]:
        rows.append(f"<p>{timing['videos_per_s']} videos/s, {timing['frames_per_s']} frames/s over "
                    f"{timing['wall_s']} s in {timing['runs']} run(s)</p>")  # fmt: skip
    return "\n".join(rows)


def svg_bars(title: str, bars: list[tuple[str, float]], width: int = 360) -> str:
    """A horizontal bar chart as inline SVG: one row per bar, its value written at its end."""
    row, label_w = 18, 110
    height = 24 + row * max(len(bars), 1)
    top = max((v for _, v in bars), default=0) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{_e(title)}"><text x="0" y="14" font-weight="bold" font-size="13">{_e(title)}</text>']
    for i, (label, value) in enumerate(bars):
        y = 22 + i * row
        w = (width - label_w - 50) * value / top
        out.append(f'<text x="0" y="{y + 12}" font-size="11">{_e(label)}</text>'
                   f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" fill="#4a7ab5"/>'
                   f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11">{value:g}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def duration_bins(durations: list[float], bins: int = 8) -> list[tuple[str, float]]:
    if not durations:
        return []
    lo, hi = min(durations), max(durations)
    step = (hi - lo) / bins or 1.0
    counts = Counter(min(int((d - lo) / step), bins - 1) for d in durations)
    return [(f"{lo + i * step:.1f}–{lo + (i + 1) * step:.1f} s", counts[i]) for i in range(bins) if counts[i]]


def _charts(report: dict[str, Any], entries: Iterable[LedgerEntry]) -> str:
    durations = [e.duration_s for e in entries if e.status == "ok" and e.duration_s is not None]
    charts = [
        svg_bars("frames per class", [(cat, n) for cat, n in report["frames"].items()]),
        svg_bars("resolutions (videos)", list(report["resolutions"].items())[:10]),
        svg_bars("durations (videos)", duration_bins(durations)),
    ]
    return "<h2>Charts</h2><div class='charts'>" + "".join(charts) + "</div>"


def _splits_section(splits: dict[str, Any] | None) -> str:
    if not splits:
        return "<h2>Splits</h2><p>No splits.json yet: run <code>dfdx split</code>.</p>"
    counts = splits.get("counts", {})
    cats = sorted({c for per in counts.values() for c in per})
    head = "".join(f"<th>{_e(c)} videos</th><th>{_e(c)} frames</th>" for c in cats)
    rows = [f"<h2>Splits ({_e(splits.get('grouping', ''))})</h2><table><tr><th>split</th>{head}<th>actors</th></tr>"]
    for name, per in counts.items():
        cells = "".join(
            f"<td data-key='split.{_e(name)}.{_e(c)}.videos'>{per.get(c, {}).get('videos', 0)}</td>"
            f"<td>{per.get(c, {}).get('frames', 0)}</td>"
            for c in cats
        )
        actors = len(splits.get("actors", {}).get(name, []))
        rows.append(f"<tr><td>{_e(name)}</td>{cells}<td>{actors}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _failures_section(report: dict[str, Any]) -> str:
    if not report["failures"]:
        return "<h2>Failures</h2><p>None.</p>"
    rows = ["<h2>Failures by reason</h2><table><tr><th>reason</th><th>videos</th><th>examples</th></tr>"]
    for f in report["failures"]:
        rows.append(f"<tr><td>{_e(f['reason'])}</td><td data-key='failure'>{f['count']}</td>"
                    f"<td>{'<br>'.join(_e(x) for x in f['examples'])}</td></tr>")  # fmt: skip
    rows.append("</table>")
    return "".join(rows)


def _verification_section(verification: dict[str, Any] | None, findings: list[dict[str, Any]],
                          thumbs: dict[str, str]) -> str:  # fmt: skip
    if verification is None:
        return "<h2>Verification</h2><p>Not verified yet: run <code>dfdx verify</code>.</p>"
    checked = verification.get("checked", {})
    state = "clean" if verification.get("clean") else "problems found"
    parts = [f"<h2>Verification: {state}</h2><p>{checked.get('frames', 0)} frames of {checked.get('videos', 0)} "
             f"videos checked at {verification.get('generated_at', '?')}.</p>"]  # fmt: skip
    if findings:
        parts.append('<div class="sheet">')
        for f in findings:
            css = "flag" if f["kind"] in FLAGS else "bad"
            caption = f"{f['kind']}: {f['path']} — {f['detail']}"
            parts.append(_figure(thumbs.get(f["path"]), caption).replace("<figcaption>", f"<figcaption class={css}>"))
        parts.append("</div>")
    return "".join(parts)

