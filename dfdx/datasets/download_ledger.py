"""The download ledger: one line per finished and verified file, in `DOWNLOAD_DIR/download_ledger.jsonl`.

The same JSONL discipline as the extraction ledger (`dfdx.ledger`: torn-line tolerant reading, flushed
appends), with its own record: what `dfdx download` finished (a file, the archive, an unpacked member).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfdx.clock import utc_now
from dfdx.ledger import SyncLedgerWriter, read_records, to_line

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DownloadRecord:
    """One ledger line: something finished and verified, relative to the download dir."""

    path: str
    size_bytes: int
    finished_at: str
    kind: str = "file"  # "file" | "archive" | "member" (unpacked from the archive) | "unpacked" (all of it)
    crc32: int | None = None

    def to_line(self) -> str:
        return to_line(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DownloadRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        record = cls(**{k: v for k, v in raw.items() if k in names})
        if not isinstance(record.path, str) or not isinstance(record.size_bytes, int):
            raise ValueError("path or size_bytes of the wrong type")
        return record


class DownloadLedger:
    """What the download ledger says is finished, by (kind, path), and the one way to add to it.

    Reading (`dfdx.ledger.read_records`) skips unreadable lines with a warning and a torn last line (a kill
    while writing) quietly; appends (`dfdx.ledger.SyncLedgerWriter`, safe from worker threads) are flushed at
    once and fsynced at close. Data files are fsynced before they are renamed into place, so a ledger line
    never describes bytes that are not on disk.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, str], DownloadRecord] = {}
        records, problems = read_records(path, DownloadRecord.from_dict)
        for problem in problems:
            if problem.torn:  # a kill while writing the last line
                log.debug("%s: torn last line ignored", path)
            else:
                log.warning("%s line %d is %s; it is ignored", path, problem.line, problem.reason)
        for record in records:
            self.records[(record.kind, record.path)] = record
        self._writer = SyncLedgerWriter(path)

    def get(self, kind: str, path: str) -> DownloadRecord | None:
        return self.records.get((kind, path))

    def of_kind(self, kind: str) -> list[DownloadRecord]:
        return [r for (k, _), r in self.records.items() if k == kind]

    def append(self, record: DownloadRecord) -> None:
        self._writer.append(record)
        self.records[(record.kind, record.path)] = record

    def add(self, kind: str, path: str, size_bytes: int, crc32: int | None = None) -> None:
        """Record that something is finished now."""
        self.append(DownloadRecord(path, size_bytes, utc_now("seconds"), kind, crc32))

    def close(self) -> None:
        self._writer.close()
