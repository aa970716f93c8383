"""report.html: every image it shows exists and is a thumbnail; its numbers are the ledger's; offline."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import simplejpeg

from dfdx.config import load_config
from dfdx.run.command import run_extract
from tests.conftest import FAKE, REAL, ledger_lines, run_dfdx


class Page(HTMLParser):
    """The parts of the page a test checks: image sources, data-key cells, any script or remote URL."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.cells: dict[str, str] = {}
        self.tags: set[str] = set()
        self.urls: list[str] = []
        self._key: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a["src"] or "")
        self._key = a.get("data-key")
        self.urls += [v for v in a.values() if v and "://" in v and not v.startswith("http://www.w3.org/")]

    def handle_data(self, data: str) -> None:
        if self._key is not None:
            self.cells[self._key] = data
            self._key = None


def parse(out: Path) -> Page:
    page = Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    return page


@pytest.fixture
def out(tmp_path, dataset, video_cache) -> Path:
    src = video_cache("html.mp4", frames=40, size=(320, 192))
    for i in range(3):
        root = dataset(f"{REAL}/0{i}__s.mp4", src)
        root = dataset(f"{FAKE}/0{i}_0{i + 1}__s__AAAAAAA{i}.mp4", src)
    root = dataset(f"{FAKE}/09_08__broken__BROKEN00.mp4", b"\x00" * 1000)
    out = tmp_path / "out"
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True})
    assert run_extract(cfg) == 0  # report.html: true is the default
    return out


def test_extract_writes_a_self_contained_report(out):
    page = parse(out)
    assert "script" not in page.tags and page.urls == []  # no JavaScript, nothing from the network
    assert "svg" in page.tags
    lines = ledger_lines(out)
    assert page.cells["frames.total"] == str(sum(len(e["frames"]) for e in lines)) == "18"
    assert page.cells["frames.real"] == "9" and page.cells["frames.ai"] == "9"
    assert page.cells["videos.total"] == "7" and page.cells["failed.ai"] == "1" and page.cells["ok.total"] == "6"
    assert page.cells["failure"] == "1"
    assert len(page.images) == 6  # one thumbnail per video on the contact sheets
    for src in page.images:  # inlined: nothing but class folders beside ai/ and real/ (issue 13)
        assert src.startswith("data:image/jpeg;base64,")
        h, w, _, _ = simplejpeg.decode_jpeg_header(base64.b64decode(src.split(",", 1)[1]))
        assert w <= 160 and (w, h) != (320, 192)  # a generated thumbnail, not the frame itself
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["ai", "real"]
    text = (out / "report.html").read_text()
    assert "Contact sheet: real (3 of 3 videos)" in text and "run <code>dfdx split</code>" in text


def test_report_html_shows_splits_and_verification_flags(out):
    frame = out / next(e for e in ledger_lines(out) if e["status"] == "ok")["frames"][0]["path"]
    frame.write_bytes(frame.read_bytes()[:500])
    assert run_dfdx("split", "--output-dir", str(out), "--mode", "actors").returncode == 0
    assert run_dfdx("verify", "--output-dir", str(out)).returncode == 1
    stale = out / "report_assets" / "old.jpg"  # what dfdx 0.1 left beside the class folders
    stale.parent.mkdir()
    stale.write_bytes(b"x")
    result = run_dfdx("report", "--html", "--output-dir", str(out))
    assert result.returncode == 0 and "report.html" in result.stdout
    page = parse(out)
    splits = json.loads((out / "splits.json").read_text())
    for name, per in splits["counts"].items():
        for cat, counts in per.items():
            assert page.cells[f"split.{name}.{cat}.videos"] == str(counts["videos"])
    text = (out / "report.html").read_text()
    assert "Verification: problems found" in text and "truncated:" in text
    assert page.images and all(src.startswith("data:image/jpeg;base64,") for src in page.images)
    assert not stale.parent.exists()  # the old thumbnail folder is cleaned up


def test_html_can_be_turned_off(tmp_path, dataset, video_cache):
    root = dataset(f"{REAL}/01__s.mp4", video_cache("html.mp4", frames=40, size=(320, 192)))
    out = tmp_path / "out"
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True, "report.html": False})
    assert run_extract(cfg) == 0
    assert not (out / "report.html").exists() and not (out / "report_assets").exists()


def test_chromium_renders_something(out, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    png = tmp_path / "page.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}", "--window-size=1200,900",
                    (out / "report.html").as_uri()], check=True, capture_output=True, timeout=60)  # fmt: skip
    from PIL import Image

    pixels = Image.open(png).convert("L")
    shades = len(np.unique(np.asarray(pixels)))
    assert pixels.getextrema()[0] < 200 and shades > 20  # text and thumbnails, not blank


def test_face_crops_show_full_frames_with_the_box_drawn(face_output, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(face_output, out)
    dataset = face_output.parent / "dataset"  # tests/faces.py: make_face_output
    assert run_dfdx("report", "--html", "--output-dir", str(out), "--dataset-path", str(dataset)).returncode == 0
    text = (out / "report.html").read_text()
    assert "Face boxes: real" in text and "Face boxes: ai" not in text  # ai's video has no face
    section = text.split("Face boxes: real")[1].split("</div>")[0]
    boxed = [src for src in parse(out).images if src in section]
    assert len(boxed) == 2  # one full frame per video of `real`
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["ai", "real"]  # nothing but class folders
    one = next(e for e in ledger_lines(out) if e["video"].endswith("01__one.mp4"))
    boxes = [f for f in one["frames"] if f["box"]]
    frame = next(f for f in boxes if f["index"] == boxes[len(boxes) // 2]["index"])
    src = next(s for s in boxed if f"{frame['box']}" in text.split(s)[1].split("</figure>")[0])
    image = simplejpeg.decode_jpeg(base64.b64decode(src.split(",", 1)[1]), colorspace="RGB").astype(int)
    scale = image.shape[1] / 1920
    x, y, w, h = (round(v * scale) for v in frame["box"])
    red = (image[..., 0] > 180) & (image[..., 1] < 80) & (image[..., 2] < 80)
    assert red[y + h // 2, x - 1 : x + 2].any() and red[y + h // 2, x + w - 2 : x + w + 1].any()  # its sides
    assert not red[y + h // 2, x + 5 : x + w - 5].any()  # the face itself is not painted
