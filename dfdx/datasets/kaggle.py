"""The official `kaggle` client, made quiet and predictable: one attempt per call, every failure sorted.

The client is blocking and talks on stdout; it runs in daemon worker threads (so the asyncio loop stays
responsive and Ctrl-C never waits for a file to finish), silenced, and every way it can fail becomes a
`Failure` the downloader can act on: no help text, no bare `SystemExit(1)`, no traceback. It retries
connection errors inside its own download loop only, and never a 429/5xx answer to an RPC, so it is asked
for one attempt at a time (`max_retries=0`) and `dfdx.datasets.retry` owns retries, backoff and `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import io
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3.exceptions

from dfdx.errors import UsageError

LIST_PAGE_SIZE = 200
T = TypeVar("T")


class CredentialsError(UsageError):
    """No usable Kaggle credentials, or Kaggle rejected them: a file or a variable the user must fix."""


class DownloadError(RuntimeError):
    """A file could not be fetched: retries ran out, or retrying cannot help (404, a bad answer)."""


class IncompleteDownload(RuntimeError):
    """The bytes on disk do not match the size the server announced or the listing gave; worth a retry."""


@dataclass(frozen=True, slots=True)
class TransferSettings:
    """Timing knobs that are not user config: tests shrink them, real runs keep the defaults.

    The retry count itself is `download.retries` in the config.
    """

    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = 600.0
    read_timeout_s: float = 60.0
    chunk_bytes: int = 256 * 1024
    progress_every_s: float = 10.0


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str  # POSIX path inside the dataset, as Kaggle's listing spells it
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Failure:
    """What a client exception means for the run: retry it, give up on it, or stop everything."""

    kind: str  # "retry" | "credentials" | "not_found" | "disk_full" | "fatal"
    reason: str
    status: int | None = None
    retry_after_s: float | None = None


# ---------------------------------------------------------------- pure helpers


def split_slug(slug: str) -> tuple[str, str, int | None]:
    """'owner/name' or 'owner/name/version' → parts; anything else is a config error."""
    parts = slug.strip().strip("/").split("/")
    if len(parts) in (2, 3) and all(parts):
        if len(parts) == 2:
            return parts[0], parts[1], None
        if parts[2].isdigit():
            return parts[0], parts[1], int(parts[2])
    raise UsageError(
        f"config key 'download.dataset': {slug!r} is not a Kaggle dataset 'owner/name' "
        "(the part after kaggle.com/datasets/ in its URL)"
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify_failure(exc: BaseException) -> Failure:
    """Sort what the client raised; it raises bare `requests` errors and never retries RPC answers."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        response = exc.response
        status = response.status_code
        rpc = response.request is not None and response.request.method == "POST"
        where = "Kaggle's API" if rpc else "the download server"
        detail = str(exc).strip()
        reason = f"HTTP {status} from {where}" + (f" ({detail[:160]})" if detail and str(status) not in detail else "")
        if status == 401 or (status == 403 and rpc):
            return Failure("credentials", reason, status)
        if status == 404:
            return Failure("not_found", reason, status)
        if status == 429:
            return Failure("retry", reason, status, parse_retry_after(response.headers.get("Retry-After")))
        if status in (403, 408) or status >= 500:  # a 403 on the GET: the signed link expired, ask anew
            return Failure("retry", reason, status)
        return Failure("fatal", reason, status)
    if isinstance(
        exc,
        requests.ConnectionError
        | requests.Timeout
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError
        | urllib3.exceptions.HTTPError,
    ):
        return Failure("retry", f"connection problem ({type(exc).__name__}: {str(exc)[:160]})")
    if isinstance(exc, IncompleteDownload):
        return Failure("retry", f"incomplete download ({exc})")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Failure("disk_full", f"disk full ({exc.strerror})")
    return Failure("fatal", f"{type(exc).__name__}: {exc}")


def credentials_help() -> str:
    folder = os.environ.get("KAGGLE_CONFIG_DIR") or "~/.kaggle"
    path = f"{folder.rstrip('/')}/kaggle.json"
    return (
        "Create an API token at https://www.kaggle.com/settings/api, then do one of:\n"
        f'  - save {path} with the content {{"username": "YOUR_USER", "key": "YOUR_KEY"}}\n'
        f"    and run: chmod 600 {path}\n"
        "    (set KAGGLE_CONFIG_DIR=/some/folder to keep kaggle.json in that folder instead)\n"
        "  - export KAGGLE_USERNAME=YOUR_USER KAGGLE_KEY=YOUR_KEY\n"
        "  - for a new-style access token: export KAGGLE_API_TOKEN=YOUR_TOKEN,\n"
        "    or save the token alone in ~/.kaggle/access_token"
    )


# ---------------------------------------------------------------- running the blocking client


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in a daemon thread and await it.

    Unlike `asyncio.to_thread`, the interpreter does not wait for a daemon thread at exit, so Ctrl-C ends a
    run at once; the interrupted file keeps its `.part` bytes and resumes on the next run.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:  # handed to the awaiting task, which decides
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"dfdx-download-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future


CLIENT_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")


def client_environment() -> dict[str, str]:
    """The variables the client reads (its credentials, endpoint and proxies) as this process has them: a
    driver hands them to its cluster's tasks, whose nodes may have no Kaggle set-up of their own."""
    return {k: v for k, v in os.environ.items() if k.startswith("KAGGLE_") or k.lower() in CLIENT_PROXY_VARS}


@contextlib.contextmanager
def using_environment(env: dict[str, str]) -> Iterator[None]:
    """These variables set while the client runs, and the process's own restored after (a Ray worker
    process runs other tasks after this one)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_kaggle_api() -> Any:
    """Import the client with its import-time output silenced; `import kaggle` authenticates and, without
    credentials, prints its help text."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as exc:
        raise UsageError(
            f"cannot import the kaggle client ({exc}); install it with: pip install 'kaggle==2.2.5' six"
        ) from None
    return KaggleApi()


class KaggleDataset:
    """The official client bound to one dataset: quiet, and one attempt per call (the caller retries)."""

    def __init__(self, slug: str, settings: TransferSettings, api: Any = None) -> None:
        self.slug = slug
        self.owner, self.name, self.version = split_slug(slug)
        self.settings = settings
        self.api = api if api is not None else load_kaggle_api()

    @property
    def kaggle_json(self) -> Path:
        """The kaggle.json the client reads (KAGGLE_CONFIG_DIR, else ~/.kaggle, else ~/.config/kaggle)."""
        return Path(getattr(self.api, "config", "") or os.path.expanduser("~/.kaggle/kaggle.json"))

    def authenticate(self) -> None:
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                self.api.authenticate()
        except SystemExit:
            raise CredentialsError(self._missing_message()) from None

    def _missing_message(self) -> str:
        looked = "KAGGLE_API_TOKEN, ~/.kaggle/access_token, KAGGLE_USERNAME/KAGGLE_KEY"
        head = f"no Kaggle credentials found (looked at {looked} and {self.kaggle_json})."
        token = self.credentials_source()
        if token in ("KAGGLE_API_TOKEN", "~/.kaggle/access_token"):
            head = f"Kaggle did not accept the access token from {token} (invalid or expired), and found no other."
        elif self.kaggle_json.is_file():
            head = (
                f'{self.kaggle_json} exists but holds no usable credentials: it must be JSON with "username" and "key".'
            )
        return f"{head}\n{credentials_help()}"

    def credentials_source(self) -> str:
        """Where the credentials the client used came from, in the client's own order of preference."""
        if os.environ.get("KAGGLE_API_TOKEN"):
            return "KAGGLE_API_TOKEN"
        if os.path.isfile(os.path.expanduser("~/.kaggle/access_token")):
            return "~/.kaggle/access_token"
        if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
            return "KAGGLE_USERNAME/KAGGLE_KEY"
        if self.kaggle_json.is_file():
            return str(self.kaggle_json)
        return "the cached OAuth login (~/.kaggle/credentials.json)"

    def rejected_message(self, failure: Failure) -> str:
        why = f"Kaggle rejected the credentials from {self.credentials_source()} ({failure.reason})."
        if failure.status == 403:
            why += (
                f" The key may be wrong, or this account may not download {self.slug}: open "
                f"https://www.kaggle.com/datasets/{self.owner}/{self.name} and accept its rules if it has any."
            )
        else:
            why += " Check the user name and key, or create a new token."
        return f"{why}\n{credentials_help()}"

    def permission_warning(self) -> str | None:
        path = self.kaggle_json
        try:
            mode = path.stat().st_mode
        except OSError:
            return None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            return f"{path} can be read by other users of this machine; run: chmod 600 {path}"
        return None

    def list_page(self, page_token: str | None) -> tuple[list[RemoteFile], str]:
        response = self.api.dataset_list_files(self._slug_for_client(), page_token, LIST_PAGE_SIZE)
        if response.error_message:
            raise DownloadError(f"Kaggle could not list the files of {self.slug}: {response.error_message}")
        files = [RemoteFile(f.name, int(f.total_bytes or 0)) for f in response.files or [] if f and f.name]
        return files, response.next_page_token or ""

    def _slug_for_client(self) -> str:
        return self.slug if self.version is None else f"{self.owner}/{self.name}/{self.version}"

    def fetch(
        self, file_name: str | None, outfile: Path, check_space: Callable[[int | None], None] | None = None
    ) -> str:
        """One attempt at one file (or, with file_name None, the whole archive) into outfile.

        Resumes a partial outfile through the client (Range + If-Range, its `.kaggle-partial` marker).
        Returns the URL the bytes came from (its name tells whether Kaggle wrapped the file in a zip).
        """
        outfile.parent.mkdir(parents=True, exist_ok=True)
        with self.api.build_kaggle_client() as kaggle:
            response = self._download_request(kaggle, file_name)
            try:
                length = response.headers.get("Content-Length")
                size = int(length) if length and length.isdigit() else None
                if check_space is not None:
                    check_space(size)
                validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
                resumable = response.headers.get("Accept-Ranges") == "bytes"
                # The RPC followed the redirect with no read timeout, so a stalled server would hang its body
                # forever. Hang up on it now: either the client resumes with its own Range request (which has
                # a timeout), or the body is fetched again here with one.
                response.close()
                can_resume = getattr(self.api, "_can_resume_partial", None)
                body = response
                if can_resume is None or not can_resume(str(outfile), True, resumable, validator, size):
                    body = requests.get(
                        response.url,
                        headers=dict(response.request.headers),
                        stream=True,
                        timeout=self.settings.read_timeout_s,
                    )
                    body.raise_for_status()
                try:
                    self.api.download_file(
                        body, str(outfile), kaggle.http_client(), quiet=True, resume=True,
                        chunk_size=self.settings.chunk_bytes, max_retries=0, timeout=self.settings.read_timeout_s,
                    )  # fmt: skip
                except ValueError as exc:  # the client's size check, or a header it could not parse
                    raise IncompleteDownload(str(exc)) from exc
                finally:
                    body.close()
            finally:
                response.close()
            return str(response.url)

    def _download_request(self, kaggle: Any, file_name: str | None) -> Any:
        """The download RPC (answered with a redirect the client follows): the whole archive or one file."""
        from kagglesdk.datasets.types.dataset_api_service import ApiDownloadDatasetRequest

        request = ApiDownloadDatasetRequest()
        request.owner_slug = self.owner
        request.dataset_slug = self.name
        if self.version is not None:
            request.dataset_version_number = self.version
        if file_name is not None:
            request.file_name = file_name
        return kaggle.datasets.dataset_api_client.download_dataset(request)


class KaggleCompetition(KaggleDataset):
    """The same, for a competition's data files (DFDC's `dfdc_train_part_N.zip`): one file per call,
    resumed, one attempt (the caller retries). Kaggle answers 403 until the account accepted the
    competition's rules on its page."""

    def __init__(self, competition: str, settings: TransferSettings, api: Any = None) -> None:
        self.slug = self.name = competition
        self.owner, self.version = "", None
        self.settings = settings
        self.api = api if api is not None else load_kaggle_api()

    def rejected_message(self, failure: Failure) -> str:
        if failure.status == 403:
            return (f"Kaggle refused the files of the competition {self.name} ({failure.reason}): open "
                    f"https://www.kaggle.com/competitions/{self.name}/rules with this account and accept the "
                    f"rules.\n{credentials_help()}")  # fmt: skip
        return super().rejected_message(failure)

    def list_page(self, page_token: str | None) -> tuple[list[RemoteFile], str]:
        response = self.api.competition_list_files(self.name, page_token, LIST_PAGE_SIZE)
        files = [RemoteFile(f.name, int(f.total_bytes or 0)) for f in response.files or [] if f and f.name]
        return files, response.next_page_token or ""

    def fetch(self, file_name: str | None, outfile: Path,
              check_space: Callable[[int | None], None] | None = None) -> str:  # fmt: skip
        if file_name is None:
            raise UsageError(f"the competition {self.name} is fetched one file at a time: name the file")
        return super().fetch(file_name, outfile, check_space)

    def _download_request(self, kaggle: Any, file_name: str | None) -> Any:
        from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFileRequest

        request = ApiDownloadDataFileRequest()
        request.competition_name = self.name
        request.file_name = file_name or ""
        return kaggle.competitions.competition_api_client.download_data_file(request)
