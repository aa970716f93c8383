"""UTC timestamps as the ledgers and reports write them (ISO 8601 with a `Z`), and back."""

from __future__ import annotations

import datetime as dt


def utc_now(timespec: str = "milliseconds") -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_utc(text: str) -> float:
    """Seconds since the epoch of a timestamp written by `utc_now` (or any ISO 8601 with an offset)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
