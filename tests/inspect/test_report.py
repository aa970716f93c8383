"""The report is a pure function of the ledger."""

from __future__ import annotations

import json

from dfdx.inspect.report import build_report, reason_group, summary_text, write_report
from dfdx.layout import LEDGER_NAME
from tests.test_ledger import entry


def test_report_counts_groups_and_times(tmp_path):
    lines = []
    for i, video in enumerate("abc"):
        e = entry(video, n=i)
        lines.append(e.to_line())
    failed = [json.loads(entry(v, "failed").to_line()) for v in ("d", "e", "f")]
    failed[0]["error"], failed[1]["error"], failed[2]["error"] = (
        "could not decode the frame at 1.234 s",
        "could not decode the frame at 9.9 s",
        "ffprobe: nope",
    )
    lines += [json.dumps(f) + "\n" for f in failed]
    second_run = json.loads(entry("a", n=5).to_line())
    second_run.update(run_id="r2", started_at="2026-01-02T00:00:00Z", finished_at="2026-01-02T00:00:02.5Z")
    lines.append(json.dumps(second_run) + "\n")
    (tmp_path / LEDGER_NAME).write_text("".join(lines) + "{torn")
    report = build_report(tmp_path)
    assert report["totals"] == {"videos": 6, "ok": 3, "failed": 3, "frames": 6, "bytes": 2 * 15 + 2 * 11 + 2 * 12,
                                "success_rate": 0.5}  # fmt: skip
    assert report["failures"][0] == {"reason": "could not decode the frame at N s", "count": 2, "examples": ["d", "e"]}
    assert report["timing"]["wall_s"] == 2.5 and report["timing"]["runs"] == 2
    assert report["ledger"]["problems"] == [f"ledger line {len(lines) + 1}: torn line (the run was interrupted "
                                            "while writing it); it is ignored"]  # fmt: skip
    write_report(tmp_path)
    assert json.loads((tmp_path / "extraction_report.json").read_text())["totals"] == report["totals"]
    assert "3/6 videos ok (50.0%)" in summary_text(tmp_path)


def test_reason_group_keeps_words():
    assert reason_group("bad mp4 at 3.5 s, 12 frames") == "bad mp4 at N s, N frames"


def test_report_counts_target_frames_with_and_without_a_face(face_output):
    report = json.loads((face_output / "extraction_report.json").read_text())
    assert report["faces"] == {"ai": {"crops": 0, "reason: no face": 3, "with_face": 0, "without_face": 3},
                               "real": {"crops": 6, "with_face": 6, "without_face": 0}}  # fmt: skip
    assert report["frames"] == {"ai": 0, "real": 6} and report["videos"]["ai"] == {"videos": 1, "ok": 1, "failed": 0}
    text = summary_text(face_output, report)
    assert "ai: 0 target frames with a face, 3 without (no face: 3)" in text
