"""The ledger reader survives anything a crash or an edit leaves, and says which line it ignored."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfdx.ledger import FrameEntry, LedgerEntry, LedgerWriter, fold, read_ledger


def entry(video: str, status: str = "ok", n: int = 0) -> LedgerEntry:
    frames = [FrameEntry(path=f"ai/{video}_{i}.jpg", index=i, position=0.5, target_s=1.0, pts_s=1.0, bytes=10 + n)
              for i in (1, 2)] if status == "ok" else []  # fmt: skip
    return LedgerEntry(video=video, category="ai", status=status, params={"q": 95}, finished_at="2026-01-01T00:00:00Z",
                       started_at="2026-01-01T00:00:00Z", elapsed_s=0.1, run_id="r", frames=frames,
                       error=None if status == "ok" else "bad")  # fmt: skip


def test_round_trip(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text(entry("a").to_line() + entry("b", "failed").to_line())
    entries, problems = read_ledger(path)
    assert entries == [entry("a"), entry("b", "failed")] and problems == []
    line = entry("a").to_line()
    assert line.count("\n") == 1 and json.loads(line)["video"] == "a"


GARBAGE = st.sampled_from(["", "{", "not json", "[1, 2]", '{"video": 1}', '{"status": "ok"}', "\x00\x01",
                           '{"video": "x", "status": "weird", "category": "ai"}'])  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    videos=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=20),
    damage=st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["garbage", "dup", "tear"]), GARBAGE), max_size=6),
    torn_tail=st.booleans(),
)
def test_reader_never_crashes_and_trusts_only_whole_lines(tmp_path_factory, videos, damage, torn_tail):
    lines = [entry(v, n=i).to_line() for i, v in enumerate(videos)]
    trusted: list[str | None] = list(lines)  # what a line was before damage; None for junk
    for pos, kind, junk in damage:
        pos %= len(lines) + 1
        if kind == "garbage":
            lines.insert(pos, junk + "\n")
            trusted.insert(pos, None)
        elif kind == "dup" and pos < len(lines):
            lines.insert(pos, lines[pos])
            trusted.insert(pos, trusted[pos])
        elif kind == "tear" and pos < len(lines) and trusted[pos] is not None:
            lines[pos] = lines[pos][: len(lines[pos]) // 2] + "\n"
            trusted[pos] = None
    if torn_tail and trusted[-1] is not None:
        lines[-1] = lines[-1][:-10]
        trusted[-1] = None
    path = tmp_path_factory.mktemp("l") / "ledger.jsonl"
    path.write_text("".join(lines))
    entries, problems = read_ledger(path)
    expected = [LedgerEntry.from_dict(json.loads(t)) for t in trusted if t is not None]
    assert entries == expected
    bad_lines = {i + 1 for i, t in enumerate(trusted) if t is None and lines[i].strip()}
    assert {p.line for p in problems} == bad_lines
    assert all(f"ledger line {p.line}:" in str(p) for p in problems)
    assert fold(entries) == {e.video: e for e in expected}


async def test_writer_mends_a_torn_tail_before_appending(tmp_path: Path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(entry("a").to_line() + entry("b").to_line()[:30])
    writer = LedgerWriter(path)
    await writer.open()
    await writer.append(entry("c"))
    await writer.close()
    entries, problems = read_ledger(path)
    assert [e.video for e in entries] == ["a", "c"]
    assert [p.line for p in problems] == [2] and "torn" not in problems[0].reason  # mended: now a whole bad line
    assert path.read_text().endswith("\n")
