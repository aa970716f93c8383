"""The ledger reader survives anything a crash or an edit leaves, and says which line it ignored."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dfdx.ledger import (
    FrameEntry,
    LedgerEntry,
    LedgerWriter,
    fold,
    has_ledger,
    ledger_path,
    ledger_paths,
    load_state,
    read_ledger,
    require_ledger,
    shard_ledger_path,
)


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


def at(e: LedgerEntry, finished_at: str, run_id: str = "r") -> LedgerEntry:
    return dataclasses.replace(e, finished_at=finished_at, run_id=run_id)


def write(path: Path, *entries: LedgerEntry, tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.to_line() for e in entries) + tail)


def test_load_state_folds_the_main_and_the_shard_ledgers(tmp_path: Path):
    """A Ray run's shard ledgers and the main ledger are one state: across files the later finished_at
    wins (a local redo after a Ray run, a verify --fix requeue after both); within a file, line order."""
    out = tmp_path
    write(ledger_path(out), at(entry("a", "failed"), "2026-01-01T00:00:00.000Z"),
          at(entry("b", "requeued"), "2026-01-03T00:00:00.000Z", "verify"))  # fmt: skip
    write(shard_ledger_path(out, 0), at(entry("a"), "2026-01-02T00:00:00.000Z", "ray"),
          at(entry("b", n=1), "2026-01-02T00:00:00.000Z", "ray"))  # fmt: skip
    # within one file the last line wins even when the clock stepped back
    write(shard_ledger_path(out, 7), at(entry("c"), "2026-01-05T00:00:00.000Z", "ray"),
          at(entry("c", "failed"), "2026-01-04T00:00:00.000Z", "ray"), tail='{"torn')  # fmt: skip
    state = load_state(out)
    assert {v: (e.status, e.run_id) for v, e in state.videos.items()} == {
        "a": ("ok", "ray"), "b": ("requeued", "verify"), "c": ("failed", "ray")}
    assert [e.finished_at[:10] for e in state.entries] == sorted(e.finished_at[:10] for e in state.entries)
    assert len(state.entries) == 6
    assert [str(p) for p in state.problems] == [
        "extraction_ledger.shard-0007.jsonl line 3: torn line (the run was interrupted while writing it); "
        "it is ignored"]
    assert ledger_paths(out) == [ledger_path(out), shard_ledger_path(out, 0), shard_ledger_path(out, 7)]


def test_an_exact_tie_goes_to_the_later_file_whatever_the_listing_order(tmp_path: Path):
    same = "2026-01-02T00:00:00.000Z"
    write(ledger_path(tmp_path), at(entry("a", "failed"), same))
    write(shard_ledger_path(tmp_path, 3), at(entry("a"), same, "ray"))
    write(shard_ledger_path(tmp_path, 12), at(entry("a", n=5), same, "ray12"))
    assert load_state(tmp_path).videos["a"].run_id == "ray12"


def test_a_folder_with_only_shard_ledgers_has_a_ledger(tmp_path: Path):
    assert not has_ledger(tmp_path)
    write(shard_ledger_path(tmp_path, 0), entry("a"))
    assert has_ledger(tmp_path)
    require_ledger(tmp_path)  # no error
    assert set(load_state(tmp_path).videos) == {"a"}
