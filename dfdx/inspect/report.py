"""Ledger → extraction_report.json and the human summary. Built from the ledger alone, so a report
can be rebuilt at any time (`dfdx report`) and always agrees with what resume believes."""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dfdx.clock import parse_utc, utc_now
from dfdx.files import write_text_atomic
from dfdx.layout import HTML_NAME, REPORT_NAME
from dfdx.ledger import LedgerEntry, LedgerState, load_state

EXAMPLES_PER_REASON = 5


def reason_group(error: str | None) -> str:
    """Group failures by what went wrong, not by the numbers in the message."""
    return re.sub(r"\b\d+(\.\d+)?\b", "N", error or "unknown")


def build_report(out: Path, ledger: LedgerState | None = None) -> dict[str, Any]:
    """`ledger`: the folder's ledger state, when the caller has already loaded it."""
    ledger = ledger or load_state(out)
    entries, problems, state = ledger.entries, ledger.problems, ledger.videos
    videos: dict[str, Counter[str]] = defaultdict(Counter)
    frames: Counter[str] = Counter()
    bytes_by_category: Counter[str] = Counter()
    failures: dict[str, list[str]] = defaultdict(list)
    durations: list[float] = []
    resolutions: Counter[str] = Counter()
    codecs: Counter[str] = Counter()
    params: dict[str, dict[str, Any]] = {}
    unlabelled = sorted(e.video for e in state.values() if e.status == "unlabelled")
    state = {video: e for video, e in state.items() if e.status != "unlabelled"}
    faces: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in state.values():
        videos[entry.category]["videos"] += 1
        videos[entry.category][entry.status] += 1
        if entry.status == "ok":
            frames[entry.category] += len(entry.frames)
            bytes_by_category[entry.category] += sum(f.bytes for f in entry.frames)
            if entry.duration_s is not None:
                durations.append(entry.duration_s)
            resolutions[f"{entry.width}x{entry.height}"] += 1
            codecs[entry.codec or "unknown"] += 1
            params[entry.category] = entry.params
            if (entry.params.get("transform") or {}).get("crop") == "face":
                faces[entry.category].update(face_counts(entry))
        else:
            failures[reason_group(entry.error)].append(entry.video)
    total = sum(c["videos"] for c in videos.values())
    ok = sum(c["ok"] for c in videos.values())
    wall = _wall_time(entries)
    latest = entries[-1] if entries else None
    return {
        "generated_at": utc_now("seconds"),
        "output_dir": os.path.abspath(out),
        "videos": {
            cat: {"videos": c["videos"], "ok": c["ok"], "failed": c["videos"] - c["ok"]}  # failed or requeued
            for cat, c in sorted(videos.items())
        },
        "totals": {
            "videos": total,
            "ok": ok,
            "failed": total - ok,
            "frames": sum(frames.values()),
            "bytes": sum(bytes_by_category.values()),
            "success_rate": round(ok / total, 4) if total else None,
        },
        "frames": dict(sorted(frames.items())),
        "bytes": dict(sorted(bytes_by_category.items())),
        "failures": [
            {"reason": reason, "count": len(vids), "examples": sorted(vids)[:EXAMPLES_PER_REASON]}
            for reason, vids in sorted(failures.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "timing": {
            "wall_s": round(wall, 3),
            "videos_per_s": round(ok / wall, 3) if wall else None,
            "frames_per_s": round(sum(frames.values()) / wall, 3) if wall else None,
            "runs": len({e.run_id for e in entries}),
        },
        "durations_s": _spread(durations),
        "resolutions": dict(resolutions.most_common()),
        "codecs": dict(codecs.most_common()),
        "params": params,
        "methods": _breakdown(state, lambda e: e.method),
        "compression": _breakdown(state, lambda e: e.compression),
        "unlabelled": {"videos": len(unlabelled), "examples": unlabelled[:EXAMPLES_PER_REASON]},
        "notes": _notes(state),
        "faces": {cat: dict(sorted(c.items())) for cat, c in sorted(faces.items())},
        "versions": latest.versions if latest else {},
        "ledger": {"lines": len(entries), "problems": [str(p) for p in problems]},
    }


def _breakdown(state: dict[str, LedgerEntry], key: Callable[[LedgerEntry], str | None]) -> dict[str, Any]:
    """Videos (ok and failed) and frames per value of a label (method, compression) and category; {} when
    the profile gives no such label."""
    table: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for e in state.values():
        value = key(e)
        if value is None:
            continue
        cell = table[value][e.category]
        cell["videos"] += 1
        cell["ok"] += e.status == "ok"
        cell["frames"] += len(e.frames) if e.status == "ok" else 0
    return {value: {cat: dict(c) for cat, c in sorted(cats.items())} for value, cats in sorted(table.items())}


def _notes(state: dict[str, LedgerEntry]) -> list[dict[str, Any]]:
    """The profile's remarks (e.g. a test list's label that disagrees with the folder), grouped."""
    by_note: dict[str, list[str]] = defaultdict(list)
    for e in state.values():
        if e.note:
            by_note[reason_group(e.note)].append(e.video)
    return [{"note": note, "count": len(vids), "examples": sorted(vids)[:EXAMPLES_PER_REASON]}
            for note, vids in sorted(by_note.items(), key=lambda kv: (-len(kv[1]), kv[0]))]  # fmt: skip
def face_counts(entry: LedgerEntry) -> Counter[str]:
    """`crop: face`: target frames with a face of their own, and without (each reason counted), the
    fallbacks written for those, and the images."""
    c: Counter[str] = Counter()
    targets = {f.index: f for f in entry.frames}
    for f in targets.values():
        c["with_face" if f.miss is None else "without_face"] += 1
        if f.miss is not None:
            c[f"reason: {f.miss}"] += 1
            c[f"fallback: {f.fallback}"] += 1
    for m in entry.misses:
        c["without_face"] += 1
        c[f"reason: {m.reason}"] += 1
    c["with_face"] += 0
    c["without_face"] += 0
    c["crops"] += sum(f.box is not None for f in entry.frames)
    return c


def _wall_time(entries: list[LedgerEntry]) -> float:
    """Sum over runs of first start → last finish: time spent extracting, not time between runs."""
    spans: dict[str, list[float]] = {}
    for e in entries:
        try:
            start, end = parse_utc(e.started_at), parse_utc(e.finished_at)
        except ValueError:
            continue
        span = spans.setdefault(e.run_id, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return sum(end - start for start, end in spans.values())


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "mean": round(statistics.fmean(values), 3),
        "max": round(max(values), 3),
    }


def write_report(out: Path, ledger: LedgerState | None = None) -> dict[str, Any]:
    report = build_report(out, ledger)
    write_text_atomic(out / REPORT_NAME, json.dumps(report, indent=2, sort_keys=False) + "\n")
    return report


def summary_text(out: Path, report: dict[str, Any] | None = None) -> str:
    r = report or build_report(out)
    t = r["totals"]
    lines = [f"dfdx report for {r['output_dir']}"]
    for cat, c in r["videos"].items():
        lines.append(f"  {cat:>6}: {c['ok']} ok, {c['failed']} failed, {r['frames'].get(cat, 0)} frames")
    rate = f"{t['success_rate']:.1%}" if t["success_rate"] is not None else "n/a"
    lines.append(f"  total : {t['ok']}/{t['videos']} videos ok ({rate}), {t['frames']} frames, "
                 f"{t['bytes'] / 1e6:.1f} MB")  # fmt: skip
    timing = r["timing"]
    if timing["videos_per_s"]:
        lines.append(f"  speed : {timing['videos_per_s']} videos/s, {timing['frames_per_s']} frames/s "
                     f"over {timing['wall_s']} s")  # fmt: skip
    if r["unlabelled"]["videos"]:
        u = r["unlabelled"]
        lines.append(f"  unlabelled: {u['videos']} video(s) not extracted, no label (e.g. {u['examples'][0]})")
    for note in r["notes"][:3]:
        lines.append(f"  note x{note['count']}: {note['note']} (e.g. {note['examples'][0]})")
    for cat, c in r.get("faces", {}).items():
        reasons = ", ".join(f"{k.split(': ', 1)[1]}: {n}" for k, n in c.items() if k.startswith("reason: "))
        lines.append(f"  {cat:>6}: {c['with_face']} target frames with a face, {c['without_face']} without"
                     + (f" ({reasons})" if reasons else ""))  # fmt: skip
    for failure in r["failures"][:5]:
        lines.append(f"  failed x{failure['count']}: {failure['reason']} (e.g. {failure['examples'][0]})")
    lines.append(f"  report: {Path(r['output_dir']) / REPORT_NAME}")
    html = Path(r["output_dir"]) / HTML_NAME
    if html.exists():
        lines.append(f"  html  : {html} (contact sheets, charts, failures)")
    return "\n".join(lines)
