"""Retrying calls to the Kaggle client: which failures are worth another attempt, how long to wait, and when to stop.

Why a module of its own, and not part of `dfdx.datasets.kaggle`: that module makes the client predictable (one
attempt per call, every exception sorted into a `Failure` by `classify_failure`, which needs to know what
`requests`, `urllib3` and the client raise). What to do with a `Failure` is policy, not client knowledge:
how many retries (`download.retries`), exponential backoff with jitter, honouring `Retry-After`, and which
failures end the run with a message the user can act on. Keeping the policy here keeps the client wrapper
about the client, and gives the downloader one call, `Retrier.__call__`, for every request it makes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dfdx.datasets.kaggle import (
    CredentialsError,
    DownloadError,
    Failure,
    TransferSettings,
    classify_failure,
    in_daemon_thread,
)
from dfdx.errors import SystemFault, UsageError

log = logging.getLogger(__name__)
T = TypeVar("T")


def retry_delay_s(attempt: int, failure: Failure, settings: TransferSettings) -> float:
    """The server's Retry-After when it gave one, else exponential backoff with jitter."""
    if failure.retry_after_s is not None:
        return min(failure.retry_after_s, settings.retry_after_max_s)
    base = min(settings.backoff_max_s, settings.backoff_s * 2**attempt)
    return base * (0.5 + random.random() / 2)


class Retrier:
    """Runs blocking client calls in worker threads, retrying what is worth retrying.

    `rejected_message` words a credentials failure (the client knows where its credentials came from);
    `dest` is the folder a full disk is reported for.
    """

    def __init__(
        self, retries: int, settings: TransferSettings, rejected_message: Callable[[Failure], str], dest: Path
    ) -> None:
        self.retries = max(0, retries)
        self.settings = settings
        self.rejected_message = rejected_message
        self.dest = dest

    async def __call__(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        not_found: str | None = None,
        not_found_error: type[Exception] = DownloadError,
    ) -> T:
        """Call fn in a worker thread until it succeeds; what cannot be retried raises one error naming `what`.

        A 404 raises `not_found_error` with `not_found` (or the failure) as its message; credentials raise
        `CredentialsError`, a full disk `SystemFault`, anything else `DownloadError` once retries run out.
        """
        attempt = 0
        while True:
            try:
                return await in_daemon_thread(fn, *args)
            except (UsageError, SystemFault, DownloadError):
                raise
            except Exception as exc:
                failure = classify_failure(exc)
            if failure.kind == "credentials":
                raise CredentialsError(self.rejected_message(failure))
            if failure.kind == "disk_full":
                raise SystemFault(f"{what}: {failure.reason} in {self.dest}; free some space and run again")
            if failure.kind == "not_found":
                raise not_found_error(f"{what}: {not_found or failure.reason}")
            if failure.kind != "retry" or attempt >= self.retries:
                tries = f"; gave up after {attempt} retries" if attempt else ""
                raise DownloadError(f"{what}: {failure.reason}{tries}")
            delay = retry_delay_s(attempt, failure, self.settings)
            waited = " (Retry-After)" if failure.retry_after_s is not None else ""
            log.warning(
                "%s: %s; retry %d of %d in %.1f s%s", what, failure.reason, attempt + 1, self.retries, delay, waited
            )
            await asyncio.sleep(delay)
            attempt += 1
