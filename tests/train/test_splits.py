"""Leakage-safe splits: no identity in two splits, whatever the manipulations link; ratios met; CLI output."""

from __future__ import annotations

import json
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.split_cast import dfd_like_cast, ledger_entry
from dfdx.config import load_config
from dfdx.datasets.profiles.dfd import actors_of
from dfdx.ledger import FrameEntry, LedgerEntry
from dfdx.run.command import run_extract
from dfdx.train.splits import make_splits
from tests.conftest import FAKE, REAL, ledger_lines, run_dfdx
from tests.train.ledgers import write_ledger


def entry(video: str, frames: int = 3) -> LedgerEntry:
    category = "ai" if video.startswith(FAKE) else "real"
    return LedgerEntry(video=video, category=category, status="ok", params={}, finished_at="", started_at="",
                       elapsed_s=0.0, run_id="r",
                       frames=[FrameEntry(f"{category}/{video}_{i}.jpg", i, 0.5, 0.0, 0.0, 1)
                               for i in range(frames)])  # fmt: skip


def dfd_sample(pairs: list[tuple[int, int]], actors: range) -> dict[str, LedgerEntry]:
    videos = [f"{REAL}/{a:02d}__scene_{s}.mp4" for a in actors for s in range(2)]
    videos += [f"{FAKE}/{t:02d}_{s:02d}__scene_0__ABCD{i:04d}.mp4" for i, (t, s) in enumerate(pairs)]
    return {v: entry(v) for v in videos}


def split_actors(splits: dict) -> dict[str, set[str]]:
    """Actors of each split, recomputed from the video names (not trusting splits.json's own list)."""
    found: dict[str, set[str]] = defaultdict(set)
    for video, split in splits["videos"].items():
        if split is not None:
            found[split].update(actors_of(video) or ())
    return found


def assert_no_actor_in_two_splits(splits: dict) -> None:
    found = split_actors(splits)
    for a in found:
        for b in found:
            assert a == b or not found[a] & found[b], (a, b, found[a] & found[b])


def test_dfd_names():
    assert actors_of(f"{REAL}/01__exit_phone_room.mp4") == ("01",)
    assert actors_of(f"{FAKE}/{FAKE}/01_02__meeting_serious__YVGY8LOK.mp4") == ("01", "02")
    assert actors_of(f"{FAKE}/27_13__talking_against_wall__A1B2C3D4.mp4") == ("13", "27")
    assert actors_of("videos/clip-0001.mp4") is None


def test_a_chain_of_manipulations_keeps_its_actors_together():
    # 01-02-03-04-05 linked by a chain of manipulations; 06..25 paired off; 26, 27 alone.
    pairs = [(1, 2), (3, 2), (3, 4), (5, 4)] + [(a, a + 1) for a in range(6, 26, 2)]
    splits = make_splits(dfd_sample(pairs, range(1, 28)), (0.8, 0.1, 0.1), seed=0)
    assert_no_actor_in_two_splits(splits)
    chain = {splits["videos"][v] for v in splits["videos"] if set(actors_of(v) or ()) & {"01", "02", "03", "04", "05"}}
    assert len(chain) == 1
    assert ["01", "02", "03", "04", "05"] in splits["actor_groups"]
    assert all(s is not None for s in splits["videos"].values())  # groups mode assigns every video
    assert {s: len(a) for s, a in splits["actors"].items()} == {s: len(a) for s, a in split_actors(splits).items()}
    real = {s: c.get("real", {}).get("videos", 0) for s, c in splits["counts"].items()}
    assert sum(real.values()) == 54 and all(real[s] > 0 for s in ("train", "val", "test"))


def test_ratios_are_met_when_the_groups_allow_it():
    pairs = [(a, a + 1) for a in range(1, 41, 2)]  # 20 independent pairs of actors
    splits = make_splits(dfd_sample(pairs, range(1, 41)), (0.8, 0.1, 0.1), seed=3)
    counts = {s: {c: v["videos"] for c, v in per.items()} for s, per in splits["counts"].items()}
    assert counts == {"train": {"real": 64, "ai": 16}, "val": {"real": 8, "ai": 2}, "test": {"real": 8, "ai": 2}}
    assert splits["counts"]["val"]["ai"]["frames"] == 6
    assert make_splits(dfd_sample(pairs, range(1, 41)), (0.8, 0.1, 0.1), seed=3) == splits  # seeded
    other = [make_splits(dfd_sample(pairs, range(1, 41)), (0.8, 0.1, 0.1), seed=s)["videos"] for s in range(4, 8)]
    assert any(o != splits["videos"] for o in other)  # and the seed matters


def test_actors_mode_splits_a_fully_linked_cast_by_leaving_crossing_videos_out():
    pairs = [(t, s) for t in range(1, 11) for s in range(1, 11) if t != s]  # everyone linked to everyone
    groups = make_splits(dfd_sample(pairs, range(1, 11)), (0.6, 0.2, 0.2), seed=0, mode="groups")
    assert len(groups["actor_groups"]) == 1 and groups["counts"]["val"] == {}
    auto = make_splits(dfd_sample(pairs, range(1, 11)), (0.6, 0.2, 0.2), seed=0)  # the default
    assert (auto["requested_mode"], auto["mode"]) == ("auto", "actors")
    actors = make_splits(dfd_sample(pairs, range(1, 11)), (0.6, 0.2, 0.2), seed=0, mode="actors")
    assert_no_actor_in_two_splits(actors)
    assert all(actors["counts"][s]["real"]["videos"] > 0 for s in ("train", "val", "test"))
    assert actors["left_out"] and all(actors_of(v) and len(actors_of(v)) == 2 for v in actors["left_out"])
    assert all(actors["videos"][v] is None for v in actors["left_out"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 15), st.integers(1, 15)).filter(lambda p: p[0] != p[1]), max_size=40),
       st.integers(0, 5), st.sampled_from(["groups", "actors", "auto"]))  # fmt: skip
def test_no_actor_is_ever_in_two_splits(pairs, seed, mode):
    splits = make_splits(dfd_sample(pairs, range(1, 16)), (0.7, 0.15, 0.15), seed=seed, mode=mode)
    assert_no_actor_in_two_splits(splits)


def test_non_dfd_names_fall_back_to_one_group_per_video():
    videos = {v: entry(v) for v in (f"{REAL}/clip{i}.mp4" for i in range(10))}
    splits = make_splits(videos, (0.8, 0.1, 0.1), seed=0)
    assert splits["grouping"] == "video" and len(splits["videos_grouped_alone"]) == 10
    assert {s: per["real"]["videos"] for s, per in splits["counts"].items()} == {"train": 8, "val": 1, "test": 1}


def test_split_command_on_a_real_extraction(tmp_path, dataset, video_cache):
    src = video_cache("split.mp4", frames=30)
    names = [f"{REAL}/{a:02d}__talk.mp4" for a in range(1, 9)] + [
        f"{FAKE}/{FAKE}/01_02__talk__AAAAAAA1.mp4", f"{FAKE}/{FAKE}/03_02__talk__AAAAAAA2.mp4",  # chain 01-02-03
        f"{FAKE}/{FAKE}/05_06__talk__AAAAAAA3.mp4", f"{FAKE}/{FAKE}/07_08__talk__AAAAAAA4.mp4",
    ]  # fmt: skip
    for name in names:
        root = dataset(name, src)
    root = dataset(f"{REAL}/odd name.mp4", src)
    out = tmp_path / "out"
    cfg = load_config(None, {"dataset_path": str(root), "output_dir": str(out), "quiet": True})
    assert run_extract(cfg) == 0
    result = run_dfdx("split", "--output-dir", str(out), "--ratios", "0.5,0.25,0.25", "--seed", "1")
    assert result.returncode == 0, result.stderr
    splits = json.loads((out / "splits.json").read_text())
    assert_no_actor_in_two_splits(splits)
    assert len({splits["videos"][n] for n in names if set(actors_of(n) or ()) & {"01", "02", "03"}}) == 1
    assert splits["videos_grouped_alone"] == [f"{REAL}/odd name.mp4"] and splits["grouping"] == "dfd-actors+video"
    assert "do not follow the DFD names" in result.stdout and result.stdout.splitlines()[0].split()[0] == "split"
    for line in result.stdout.splitlines()[1:4]:
        name, *numbers = line.split()
        per = splits["counts"][name]
        cells = [per.get(c, {}).get(k, 0) for c in ("ai", "real") for k in ("videos", "frames")]
        assert [int(n) for n in numbers] == [*cells, len(splits["actors"][name])]
    rows = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    ledger_frames = {f["path"]: e for e in ledger_lines(out) for f in e["frames"]}
    assert sorted(r["file_name"] for r in rows) == sorted(ledger_frames)
    for row in rows:
        assert (out / row["file_name"]).is_file()
        assert row["video"] == ledger_frames[row["file_name"]]["video"]
        assert row["split"] == splits["videos"][row["video"]]
        assert row["label"] == {"real": 0, "ai": 1}[row["category"]]
    assert run_dfdx("split", "--output-dir", str(tmp_path / "none")).returncode == 2
    bad = run_dfdx("split", "--output-dir", str(out), "--ratios", "0.5,0.5")
    assert bad.returncode == 2 and "split.ratios" in bad.stderr


def test_auto_gives_each_split_a_whole_group_when_groups_can_fill_every_split():
    # The six actors: fakes link {01, 02, 03} and {04, 05}; 06 is alone. Whole groups fill the
    # three splits and lose nothing, so auto must keep them (it used to split the actors and leave test empty).
    splits = make_splits(dfd_sample([(1, 2), (3, 2), (4, 5)], range(1, 7)), (0.8, 0.1, 0.1), seed=0)
    assert splits["mode"] == "groups" and splits["left_out"] == []
    assert sorted(map(sorted, splits["actors"].values())) == [["01", "02", "03"], ["04", "05"], ["06"]]
    assert all(splits["counts"][s] for s in ("train", "val", "test"))
    assert_no_actor_in_two_splits(splits)


def kept_fakes(splits: dict) -> dict[str, int]:
    return {s: per.get("ai", {}).get("videos", 0) for s, per in splits["counts"].items()}


def test_actors_mode_on_a_dfd_like_cast_keeps_most_fakes_and_fills_val_and_test():
    # 28 actors, 364 originals, 3,068 fakes over 120 pairs: one linked group. The old greedy split put no
    # fake in val (and 25 in test), leaving 866 out; the search must give every split both classes.
    entries = dfd_like_cast()
    splits = make_splits(entries, (0.8, 0.1, 0.1), seed=0)
    assert splits["mode"] == "actors"
    assert_no_actor_in_two_splits(splits)
    fakes = kept_fakes(splits)
    assert sum(fakes.values()) >= 0.65 * 3068, fakes
    assert fakes["val"] >= 60 and fakes["test"] >= 60, fakes
    assert all(splits["counts"][s]["real"]["videos"] >= 30 for s in ("val", "test"))
    left = splits["left_out_counts"]["identities in two splits"]
    assert left == {"ai": 3068 - sum(fakes.values())} and len(splits["left_out"]) == left["ai"]
    for video in splits["left_out"]:
        ids = actors_of(video)
        assert ids and len({s for s, a in splits["actors"].items() if set(ids) & set(a)}) == 2
    assert make_splits(entries, (0.8, 0.1, 0.1), seed=0) == splits  # deterministic for a seed


def test_the_ledger_group_decides_and_names_are_the_fallback():
    # FF++-style names say nothing DFD can parse: the identities come from the ledger's group.
    entries = {}
    for a, b in [("000", "003"), ("001", "004"), ("002", "005"), ("006", "007"), ("008", "009")]:
        entries[f"o/{a}.mp4"] = ledger_entry(f"o/{a}.mp4", "real", (a,))
        entries[f"o/{b}.mp4"] = ledger_entry(f"o/{b}.mp4", "real", (b,))
        entries[f"m/{a}_{b}.mp4"] = ledger_entry(f"m/{a}_{b}.mp4", "ai", (a, b))
    old = f"{REAL}/10__talk.mp4"  # an older line without a group: DFD's name gives the actor
    entries[old] = entry(old)
    splits = make_splits(entries, (0.6, 0.2, 0.2), seed=1)
    assert splits["grouping"] == "dataset+dfd-actors" and splits["grouping_videos"] == {"dataset": 15, "dfd-actors": 1}
    assert ["000", "003"] in splits["actor_groups"] and ["10"] in splits["actor_groups"]
    for a, b in [("000", "003"), ("001", "004")]:
        assert len({splits["videos"][v] for v in (f"o/{a}.mp4", f"o/{b}.mp4", f"m/{a}_{b}.mp4")}) == 1


def test_unlabelled_videos_are_left_out_with_their_reason():
    entries = dfd_sample([(1, 2), (3, 4), (5, 6)], range(1, 7))
    entries["odd/x.mp4"] = LedgerEntry(video="odd/x.mp4", category="unlabelled", status="unlabelled", params={},
                                       finished_at="", started_at="", elapsed_s=0.0, run_id="r", error="no label")
    splits = make_splits(entries, (0.8, 0.1, 0.1), seed=0)
    assert splits["videos"]["odd/x.mp4"] is None and splits["left_out_reasons"] == {"odd/x.mp4": "unlabelled"}
    assert splits["left_out_counts"] == {"unlabelled": {"unlabelled": 1}}
    assert "odd/x.mp4" not in splits["videos_grouped_alone"]


# Leakage, per kind of grouping: what each profile writes in `group` (or nothing, for older ledgers).
def dfd_names(pairs: list[tuple[int, int]], n: int) -> dict[str, LedgerEntry]:
    return dfd_sample(pairs, range(1, n + 1))


def ffpp_groups(pairs: list[tuple[int, int]], n: int) -> dict[str, LedgerEntry]:
    entries = {f"o/{a:03d}.mp4": ledger_entry(f"o/{a:03d}.mp4", "real", (f"{a:03d}",)) for a in range(1, n + 1)}
    for t, s in pairs:
        name = f"m/{t:03d}_{s:03d}.mp4"
        entries[name] = ledger_entry(name, "ai", tuple(sorted({f"{t:03d}", f"{s:03d}"})))
    return entries


def dfdc_groups(pairs: list[tuple[int, int]], n: int) -> dict[str, LedgerEntry]:
    # A fake is grouped with its original alone (its `t`); `s` only varies the clip's name.
    entries = {f"p/r{a}.mp4": ledger_entry(f"p/r{a}.mp4", "real", (f"r{a}",)) for a in range(1, n + 1)}
    for i, (t, s) in enumerate(pairs):
        entries[f"p/f{i}_{s}.mp4"] = ledger_entry(f"p/f{i}_{s}.mp4", "ai", (f"r{t}",))
    return entries


def alone(pairs: list[tuple[int, int]], n: int) -> dict[str, LedgerEntry]:
    entries = {f"r/clip{a}.mp4": ledger_entry(f"r/clip{a}.mp4", "real") for a in range(n)}
    entries.update({f"f/clip{i}.mp4": ledger_entry(f"f/clip{i}.mp4", "ai") for i in range(len(pairs))})
    return entries


GROUPINGS = {"dfd-names": dfd_names, "ffpp": ffpp_groups, "dfdc": dfdc_groups, "alone": alone}


def identities(video: str, e: LedgerEntry) -> set[str]:
    """Recomputed here, not taken from the module under test."""
    return set(e.group) or set(actors_of(video) or ()) or {video}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(GROUPINGS)),
       st.lists(st.tuples(st.integers(1, 12), st.integers(1, 12)).filter(lambda p: p[0] != p[1]), max_size=30),
       st.integers(0, 3), st.sampled_from(["groups", "actors", "auto"]),
       st.sampled_from([(0.8, 0.1, 0.1), (0.5, 0.5, 0.0), (0.34, 0.33, 0.33)]))  # fmt: skip
def test_no_identity_in_two_splits_and_every_video_accounted_for(kind, pairs, seed, mode, ratios):
    entries = GROUPINGS[kind](pairs, 12)
    splits = make_splits(entries, ratios, seed=seed, mode=mode)
    where: dict[str, set[str]] = defaultdict(set)
    for video, split in splits["videos"].items():
        if split is not None:
            for identity in identities(video, entries[video]):
                where[identity].add(split)
    assert all(len(s) == 1 for s in where.values()), {i: s for i, s in where.items() if len(s) > 1}
    assert set(splits["videos"]) == set(entries)
    for video, split in splits["videos"].items():
        assert (split is None) == (video in splits["left_out_reasons"])
        if split is None:
            assert splits["left_out_reasons"][video] == "identities in two splits" and splits["mode"] == "actors"
        else:
            assert ratios[("train", "val", "test").index(split)] > 0
    assert splits["identities_in_two_splits"] == []
    counted = sum(c["videos"] for per in splits["counts"].values() for c in per.values())
    assert counted + len(splits["left_out"]) == len(entries)


def test_split_command_prints_and_records_why_videos_are_left_out(tmp_path):
    entries = dfd_like_cast(with_groups=True)
    out = write_ledger(tmp_path / "out", entries)
    result = run_dfdx("split", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    splits = json.loads((out / "splits.json").read_text())
    assert splits["grouping"] == "dfd-actors" and splits["source"].startswith("identities searched apart")
    left = splits["left_out_counts"]["identities in two splits"]["ai"]
    assert f"left out (identities in two splits): {left} ai" in result.stdout
    assert "split by actors" in result.stdout and "so the identities themselves were split" in result.stdout
    assert sorted(splits["left_out_reasons"]) == splits["left_out"] and len(splits["left_out"]) == left


def test_metadata_lines_carry_a_face_crops_box(face_output):
    from dfdx.ledger import load_state
    from dfdx.train.metadata import metadata_rows

    rows = metadata_rows(load_state(face_output).videos, {})
    boxes = {f["path"]: f["box"] for e in ledger_lines(face_output) for f in e["frames"]}
    assert len(rows) == 6 and {r["file_name"]: r["box"] for r in rows} == boxes
