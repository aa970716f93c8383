"""The download ledger: the extraction ledger's reading and writing, with its own record."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dfdx.datasets.download_ledger import DownloadLedger, DownloadRecord
from dfdx.layout import DOWNLOAD_LEDGER_NAME


def test_ledger_warns_about_bad_lines_but_not_a_torn_last_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / DOWNLOAD_LEDGER_NAME
    good = DownloadRecord("a.mp4", 3, "2020-01-01T00:00:00Z")
    path.write_text("garbage\n" + good.to_line() + '{"path": 7, "size_bytes": 1}\n{"path": "b.mp4", "si')
    with caplog.at_level(logging.DEBUG, logger="dfdx.datasets.download_ledger"):
        ledger = DownloadLedger(path)
    assert list(ledger.records.values()) == [good]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "line 1 is unreadable" in warnings[0] and "line 3 is unreadable" in warnings[1]
    assert any("torn last line" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    ledger.add("file", "c.mp4", 4)
    ledger.close()
    lines = path.read_text().splitlines()
    assert lines[-1].startswith('{"crc32": null, "finished_at": "') and lines[-1].endswith('"size_bytes": 4}')
    assert [r.path for r in DownloadLedger(path).records.values()] == ["a.mp4", "c.mp4"]
