"""A fake Kaggle API on 127.0.0.1 answering what the real `kaggle` client sends, with faults on demand.

The real client is pointed at it by endpoint only, never by patching its logic:
- in this process, `point_client()` sets kagglesdk's endpoint table (`kaggle_env._env_to_endpoint`) to
  this server, for the PROD and LOCAL environments both;
- in a child process, `child_env()` sets KAGGLE_API_ENVIRONMENT=LOCALHOST (endpoint http://localhost) and
  HTTP_PROXY to this server, which also answers proxy-style absolute URLs.

What it answers, as Kaggle does:
- POST {endpoint}[/api]/v1/datasets.DatasetApiService/GetDatasetMetadata | ListDatasetFiles (paged with
  pageToken/nextPageToken, at most `page_cap` a page) | DownloadDataset (whole archive, or one file with
  `fileName`) → a 302 to a signed-looking GET URL; security.OAuthService/IntrospectToken for access tokens.
- GET /storage/{token}/{name}: the bytes, with Accept-Ranges, ETag, Last-Modified, Range → 206 (If-Range
  honoured, 416 past the end).
- Errors the way the client parses them: the HTTP status and a JSON body {"code", "message"}.

Every request is recorded as a `Hit`, so tests can assert what was fetched and how many bytes were sent.
A GET whose client hangs up right after the headers (dfdx does that to the body the RPC's redirect opened,
which has no read timeout) is recorded as `hung_up`, with no body bytes sent: the server waits a moment
after the headers to see whether the client is still there, so kernel socket buffers do not blur the counts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import random
import re
import select
import socket
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

ARCHIVE = "<archive>"  # the name faults and hits use for the whole-dataset zip
LAST_MODIFIED = "Mon, 02 Mar 2020 10:00:00 GMT"
ZIP_TIME = (2020, 3, 2, 10, 0, 0)
CHUNK = 64 * 1024
SCENES = ("exit_phone_room", "meeting_serious", "kitchen_pan", "walking_outside_cafe_disgusted", "podium_speech")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def dfd_files(n_real: int = 4, n_fake: int = 6, size: int = 40_000, seed: int = 7) -> dict[str, bytes]:
    """DFD-style names with random bytes, plus a metadata CSV and a file that is neither."""
    rng = random.Random(seed)
    files: dict[str, bytes] = {}
    for i in range(n_real):
        name = f"DFD_original_sequences/{i + 1:02d}__{SCENES[i % len(SCENES)]}.mp4"
        files[name] = rng.randbytes(size + i)
    for i in range(n_fake):
        ident = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(8))
        name = f"DFD_manipulated_sequences/{i + 1:02d}_{i + 2:02d}__{SCENES[i % len(SCENES)]}__{ident}.mp4"
        files[name] = rng.randbytes(size + 100 + i)
    files["metadata.csv"] = b"video,label\n01__exit_phone_room.mp4,real\n"
    files["DFD_original_sequences/thumbs.db"] = b"\0" * 100
    return files


@dataclass
class Hit:
    kind: str  # "rpc" | "get"
    name: str  # the RPC name, or the file served (ARCHIVE for the zip)
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)  # the RPC's JSON request
    range_start: int | None = None
    bytes_sent: int = 0
    aborted: bool = False  # the connection ended before the whole body was sent
    hung_up: bool = False  # the client closed it right after the headers (nothing of the body was taken)
    done: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)  # handler returned


@dataclass
class Faults:
    """Switches; each entry is used once, in order, then forgotten."""

    rpc_errors: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) per RPC
    get_errors: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) per GET
    cut_after: dict[str, int] = field(default_factory=dict)  # name → body bytes before the connection drops
    stall: dict[str, tuple[int, float]] = field(default_factory=dict)  # name → (bytes first, seconds or inf)
    zip_slip: str | None = None  # an extra archive member with this (escaping) name
    symlink_member: str | None = None  # an extra archive member that is a symlink
    truncate_archive: bool = False  # serve the first half of the zip as if it were all of it
    corrupt_member: str | None = None  # flip one byte of this member's data in the zip (its CRC no longer matches)
    wrap: set[str] = field(default_factory=set)  # single files served zipped, as `<name>.zip`


class FakeKaggle:
    def __init__(
        self,
        files: dict[str, bytes] | None = None,
        *,
        owner: str = "tester",
        slug: str = "dfd-mini",
        username: str = "tester",
        key: str = "s3cret-key",
        token: str = "tok-123",
        page_cap: int = 4,
        competition: str = "deepfake-detection-challenge",
        competition_files: dict[str, bytes] | None = None,
    ) -> None:
        self.files = dict(files if files is not None else dfd_files())
        self.competition = competition  # competition files: ListDataFiles / DownloadDataFile (DFDC's parts)
        self.competition_files = dict(competition_files or {})
        self.owner = owner
        self.slug = slug
        self.username = username
        self.key = key
        self.token = token
        self.page_cap = page_cap
        self.faults = Faults()
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeKaggle:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kaggle", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def release_stalls(self) -> None:
        self._release.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def dataset(self) -> str:
        return f"{self.owner}/{self.slug}"

    @contextlib.contextmanager
    def point_client(self) -> Iterator[None]:
        """Send this process's kaggle client here: the endpoint table is the only thing changed."""
        from kagglesdk.kaggle_env import KaggleEnv, _env_to_endpoint

        saved = dict(_env_to_endpoint)
        _env_to_endpoint[KaggleEnv.PROD] = self.url
        _env_to_endpoint[KaggleEnv.LOCAL] = self.url
        try:
            yield
        finally:
            _env_to_endpoint.update(saved)

    def child_env(self, home: Path, credentials: bool = True) -> dict[str, str]:
        """Environment for a child process whose kaggle client must talk to this server, and only to it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_") and k.lower() not in PROXY_VARS}
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            KAGGLE_API_ENVIRONMENT="LOCALHOST",
            HTTP_PROXY=self.url,
            http_proxy=self.url,
            NO_PROXY="",  # set, and empty: a Ray task gets the driver's proxy variables, not its node's own
            no_proxy="",
        )
        if credentials:
            env.update(KAGGLE_USERNAME=self.username, KAGGLE_KEY=self.key)
        return env

    # -- what happened

    def rpcs(self, name: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.kind == "rpc" and name in (None, h.name)]

    def gets(self, name: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.kind == "get" and name in (None, h.name)]

    def settled_gets(self, name: str | None = None, timeout_s: float = 10.0) -> list[Hit]:
        """`gets`, once each has been served to its end (a client can read the last byte before the handler
        has counted it)."""
        hits = self.gets(name)
        for hit in hits:
            assert hit.done.wait(timeout_s), f"GET {hit.name} still being served"
        return hits

    def clear_hits(self) -> None:
        with self._lock:
            self.hits.clear()

    def archive_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, data in sorted(self.files.items()):
                # fixed times: the same bytes every time; the corrupted member stored, so its bytes can be found
                method = zipfile.ZIP_STORED if name == self.faults.corrupt_member else zipfile.ZIP_DEFLATED
                zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, compress_type=method)
            if self.faults.zip_slip:
                zf.writestr(zipfile.ZipInfo(self.faults.zip_slip, ZIP_TIME), b"escaped!")
            if self.faults.symlink_member:
                info = zipfile.ZipInfo(self.faults.symlink_member, ZIP_TIME)
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, "../../../../etc/passwd")
        data = buf.getvalue()
        if self.faults.corrupt_member:
            at = data.index(self.files[self.faults.corrupt_member]) + 10
            data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
        return data[: len(data) // 2] if self.faults.truncate_archive else data

    # -- request handling (server threads)

    def _record(self, hit: Hit) -> Hit:
        with self._lock:
            self.hits.append(hit)
        return hit

    def handle_post(self, h: _Handler) -> None:
        path = urlsplit(h.path).path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        m = re.fullmatch(r"(?:/api)?/v1/([\w.]+)/(\w+)", path)
        hit = self._record(Hit("rpc", m.group(2) if m else path, body=body))
        if not m:
            return self._json(h, hit, 404, {"code": 404, "message": f"no route {path}"})
        service, rpc = m.groups()
        with self._lock:
            injected = self.faults.rpc_errors.pop(0) if self.faults.rpc_errors else None
        if injected:
            status, headers = injected
            return self._json(h, hit, status, {"code": status, "message": f"injected {status}"}, headers)
        if (service, rpc) == ("security.OAuthService", "IntrospectToken"):
            active = body.get("token") == self.token
            return self._json(h, hit, 200, {"active": active, "username": self.username if active else ""})
        if not self._authorized(h.headers.get("Authorization", "")):
            return self._json(h, hit, 401, {"code": 401, "message": "Unauthenticated: bad or missing credentials"})
        if service == "competitions.CompetitionApiService":
            return self._competition_rpc(h, hit, rpc, body)
        if service != "datasets.DatasetApiService":
            return self._json(h, hit, 404, {"code": 404, "message": f"no service {service}"})
        if (body.get("ownerSlug"), body.get("datasetSlug")) != (self.owner, self.slug):
            return self._json(h, hit, 404, {"code": 404, "message": "Dataset not found"})
        if rpc == "GetDatasetMetadata":
            info = {"datasetSlug": self.slug, "ownerUser": self.owner, "title": "DFD (test copy)"}
            return self._json(h, hit, 200, {"info": {**info, "licenses": [{"name": "CC0-1.0"}]}})
        if rpc == "ListDatasetFiles":
            return self._list(h, hit, body, self.files, "datasetFiles")
        if rpc == "DownloadDataset":
            name = body.get("fileName")
            if name is not None and name not in self.files:
                return self._json(h, hit, 404, {"code": 404, "message": f"file {name} not found"})
            if name is None:
                return self._redirect(h, hit, "archive", f"{self.slug}.zip")
            return self._redirect(h, hit, hashlib.sha1(name.encode()).hexdigest()[:12],
                                  name.rsplit("/", 1)[-1] + (".zip" if name in self.faults.wrap else ""))
        return self._json(h, hit, 404, {"code": 404, "message": f"no rpc {rpc}"})

    def _competition_rpc(self, h: _Handler, hit: Hit, rpc: str, body: dict[str, Any]) -> None:
        if body.get("competitionName") != self.competition:
            return self._json(h, hit, 404, {"code": 404, "message": "Competition not found"})
        if rpc == "ListDataFiles":
            return self._list(h, hit, body, self.competition_files, "files")
        name = body.get("fileName")
        if rpc != "DownloadDataFile" or name not in self.competition_files:
            return self._json(h, hit, 404, {"code": 404, "message": f"no rpc {rpc} / file {name}"})
        return self._redirect(h, hit, hashlib.sha1(name.encode()).hexdigest()[:12], name.rsplit("/", 1)[-1])

    def _redirect(self, h: _Handler, hit: Hit, token: str, served: str) -> None:
        host = h.headers.get("Host") or self.url.removeprefix("http://")
        location = f"http://{host}/storage/{token}/{quote(served)}?X-Goog-Signature=fake&X-Goog-Expires=600"
        hit.status = 302
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _authorized(self, header: str) -> bool:
        kind, _, value = header.partition(" ")
        if kind == "Basic":
            try:
                return base64.b64decode(value).decode() == f"{self.username}:{self.key}"
            except ValueError:
                return False
        return kind == "Bearer" and value == self.token

    def _list(self, h: _Handler, hit: Hit, body: dict[str, Any], files: dict[str, bytes], key: str) -> None:
        names = sorted(files)
        token = body.get("pageToken") or ""
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        size = min(int(body.get("pageSize") or 20), self.page_cap)
        page = names[start : start + size]
        out: dict[str, Any] = {
            key: [
                {
                    "ref": f"{self.dataset}/{n}",
                    "name": n,
                    "totalBytes": len(files[n]),
                    "creationDate": "2020-03-02T10:00:00.000Z",
                }
                for n in page
            ]
        }
        if start + size < len(names):
            out["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        self._json(h, hit, 200, out)

    def _json(
        self, h: _Handler, hit: Hit, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        hit.status = status
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def handle_get(self, h: _Handler) -> None:
        path = urlsplit(h.path).path
        m = re.fullmatch(r"/storage/([\w]+)/([^/]+)", path)
        name = None
        if m and m.group(1) == "archive":
            name = ARCHIVE
        elif m:
            served = {**self.files, **self.competition_files}
            name = next((n for n in served if hashlib.sha1(n.encode()).hexdigest()[:12] == m.group(1)), None)
        hit = self._record(Hit("get", name or path))
        try:
            self._serve_get(h, hit, name)
        finally:
            hit.done.set()

    def _serve_get(self, h: _Handler, hit: Hit, name: str | None) -> None:
        if name is None:
            return self._json(h, hit, 404, {"code": 404, "message": "no such object"})
        with self._lock:
            injected = self.faults.get_errors.pop(0) if self.faults.get_errors else None
        if injected:
            status, headers = injected
            return self._json(h, hit, status, {"code": status, "message": f"injected {status}"}, headers)
        if name == ARCHIVE:
            data = self.archive_bytes()
        elif name in self.faults.wrap:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(zipfile.ZipInfo(name.rsplit("/", 1)[-1], ZIP_TIME), self.files[name])
            data = buf.getvalue()
        else:
            data = self.files[name] if name in self.files else self.competition_files[name]
        self._send_bytes(h, hit, name, data)
        return None

    def _send_bytes(self, h: _Handler, hit: Hit, name: str, data: bytes) -> None:
        etag = '"' + hashlib.sha1(data).hexdigest() + '"'
        start, end, status = 0, len(data), 200
        wanted = h.headers.get("Range")
        if_range = h.headers.get("If-Range")
        if wanted and (if_range is None or if_range in (etag, LAST_MODIFIED)):
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())
            if m:
                start = int(m.group(1))
                end = min(len(data), int(m.group(2)) + 1) if m.group(2) else len(data)
                hit.range_start = start
                if start >= len(data):
                    hit.status = 416
                    h.send_response(416)
                    h.send_header("Content-Range", f"bytes */{len(data)}")
                    h.send_header("Content-Length", "0")
                    h.end_headers()
                    return
                status = 206
        body = data[start:end]
        hit.status = status
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("ETag", etag)
        h.send_header("Last-Modified", LAST_MODIFIED)
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        h.end_headers()
        h.wfile.flush()
        if _peer_hung_up(h.connection, 0.05):
            hit.aborted = hit.hung_up = True
            h.close_connection = True
            return
        with self._lock:
            cut = self.faults.cut_after.pop(name, None)
            stall = self.faults.stall.pop(name, None)
        sent = 0
        try:
            while sent < len(body):
                limit = len(body)
                if cut is not None:
                    limit = min(limit, cut)
                if stall is not None:
                    limit = min(limit, max(stall[0], sent))
                if sent >= limit:
                    if cut is not None and sent >= cut:
                        h.wfile.flush()
                        with contextlib.suppress(OSError):
                            h.connection.shutdown(socket.SHUT_RDWR)
                        hit.aborted = True
                        h.close_connection = True
                        return
                    assert stall is not None
                    h.wfile.flush()
                    self._release.wait(None if stall[1] == float("inf") else stall[1])
                    stall = None
                    continue
                piece = body[sent : min(limit, sent + CHUNK)]
                h.wfile.write(piece)
                sent += len(piece)
                hit.bytes_sent = sent
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            hit.aborted = True
            h.close_connection = True


def _peer_hung_up(sock: socket.socket, wait_s: float) -> bool:
    """True when the client closed the connection (readable with nothing to read) within wait_s."""
    readable, _, _ = select.select([sock], [], [], wait_s)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.fake.handle_post(self)

    def do_GET(self) -> None:
        self.server.fake.handle_get(self)


@pytest.fixture
def kaggle_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeKaggle]:
    """A started fake with DFD-style files; this process's client points at it with fake credentials in
    the environment and an empty HOME, so nothing of the real user's Kaggle setup is read."""
    fake = FakeKaggle().start()
    home = tmp_path / "home"
    home.mkdir()
    for var in [v for v in os.environ if v.startswith("KAGGLE_") or v.lower() in PROXY_VARS]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("KAGGLE_USERNAME", fake.username)
    monkeypatch.setenv("KAGGLE_KEY", fake.key)
    try:
        with fake.point_client():
            yield fake
    finally:
        fake.stop()
