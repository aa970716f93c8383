"""The kaggle wrapper for a competition's data files (DFDC's parts), against the fake Kaggle server with
the official client: listed page by page, fetched whole, resumed after a cut, a 403 that says to accept
the competition's rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dfdx.datasets.kaggle import KaggleCompetition, TransferSettings, classify_failure
from dfdx.errors import UsageError
from tests.datasets import fake_kaggle
from tests.datasets.fake_kaggle import FakeKaggle

kaggle_server = fake_kaggle.kaggle_server
FAST = TransferSettings(backoff_s=0.01, backoff_max_s=0.05, read_timeout_s=1.0, chunk_bytes=64 * 1024)
COMPETITION = "deepfake-detection-challenge"


@pytest.fixture
def dfdc(kaggle_server: FakeKaggle) -> FakeKaggle:
    rng = random.Random(3)
    kaggle_server.competition_files = {f"dfdc_train_part_{i}.zip": rng.randbytes(300_000 + i) for i in range(5)}
    kaggle_server.competition_files["sample_submission.csv"] = b"filename,label\n"
    return kaggle_server


def test_a_competitions_files_are_listed_page_by_page(dfdc: FakeKaggle):
    client = KaggleCompetition(COMPETITION, FAST)
    client.authenticate()
    listed, token = [], None
    while token != "":
        page, token = client.list_page(token)
        listed += page
    assert {(f.name, f.size_bytes) for f in listed} == {(n, len(b)) for n, b in dfdc.competition_files.items()}
    assert len(dfdc.rpcs("ListDataFiles")) == 2  # the fake gives 4 a page
    assert dfdc.rpcs("ListDataFiles")[0].body["competitionName"] == COMPETITION


def test_a_part_is_fetched_whole_and_a_cut_download_resumes(dfdc: FakeKaggle, tmp_path: Path):
    client = KaggleCompetition(COMPETITION, FAST)
    client.authenticate()
    name = "dfdc_train_part_3.zip"
    dfdc.faults.cut_after[name] = 100_000
    outfile = tmp_path / name
    with pytest.raises(Exception) as cut:
        client.fetch(name, outfile)
    assert classify_failure(cut.value).kind == "retry"
    client.fetch(name, outfile)
    assert outfile.read_bytes() == dfdc.competition_files[name]
    resumed = dfdc.settled_gets(name)[-1]  # the second GET asked only for what the first did not write
    assert resumed.status == 206 and (resumed.range_start or 0) > 0
    assert resumed.bytes_sent == len(dfdc.competition_files[name]) - (resumed.range_start or 0)
    assert dfdc.rpcs("DownloadDataFile")[0].body == {"competitionName": COMPETITION, "fileName": name}


def test_rules_not_accepted_says_where_to_accept_them(dfdc: FakeKaggle, tmp_path: Path):
    client = KaggleCompetition(COMPETITION, FAST)
    client.authenticate()
    dfdc.faults.rpc_errors.append((403, {}))
    with pytest.raises(Exception) as refused:
        client.fetch("dfdc_train_part_0.zip", tmp_path / "p0.zip")
    failure = classify_failure(refused.value)
    assert (failure.kind, failure.status) == ("credentials", 403)
    assert f"https://www.kaggle.com/competitions/{COMPETITION}/rules" in client.rejected_message(failure)
    with pytest.raises(UsageError, match="one file at a time"):
        client.fetch(None, tmp_path / "all.zip")
