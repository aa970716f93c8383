"""Bounded child processes: at most N live at once, each with a timeout, none left behind.

Every ffprobe/ffmpeg goes through here, so "never more than num_workers children" and "no child
survives Ctrl-C" hold by construction. Children get their own session, so a terminal's Ctrl-C reaches
only dfdx, which then kills them itself (and records nothing false about the video they were on).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from dfdx.errors import SystemFault

INSTALL_HINT = "install it (Debian/Ubuntu: `sudo apt-get install ffmpeg`; or `make test`, which does it)"
# How a system says a program could not run at all (126: not executable; 127: not found, or the dynamic loader
# could not load a library it needs). ffmpeg and ffprobe never exit so for a bad input.
CANNOT_RUN = (126, 127)


class ChildTimeout(Exception):
    """A child ran past its time limit and was killed; only its video fails."""


@dataclass(frozen=True, slots=True)
class ChildResult:
    returncode: int
    stdout: bytes
    stderr: bytes

    def error_line(self, path: object = None) -> str:
        """The last meaningful line ffmpeg printed, without the file's own name: the reason to act on."""
        return last_error_line(self.stderr, path)


def require_runs(tool: str, returncode: int | None, stderr: bytes) -> None:
    """A tool that cannot run on this machine is a fault of the system, not of the video it was given: stop the
    run instead of writing a failed line for every video."""
    if returncode in CANNOT_RUN:
        why = last_error_line(stderr) or f"exit code {returncode}"
        raise SystemFault(f"{tool} cannot run on this machine ({why}); {INSTALL_HINT}")


# Signals a decoder dies of when it crashes on what it reads (a hostile file, a bug of its own).
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGABRT}


def exit_reason(returncode: int) -> str:
    """How a child ended, as what follows its name in a ledger line ("ffmpeg crashed (SIGSEGV)"): a crash and an
    outside kill (SIGKILL: on Linux most often the out-of-memory killer; dfdx's own timeouts and Ctrl-C are told
    apart before this) are not "exit code -9"."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"was killed (signal {-returncode})"
    if sig in CRASH_SIGNALS:
        return f"crashed ({sig.name})"
    if sig == signal.SIGKILL:
        return "was killed (SIGKILL: out of memory? see `dmesg`)"
    return f"was killed ({sig.name})"


def last_error_line(stderr: bytes, path: object = None) -> str:
    text = stderr.decode("utf-8", "replace")
    if path is not None:
        text = text.replace(f"file:{path}: ", "").replace(f"{path}: ", "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def require_tools(*names: str) -> None:
    for name in names:
        if shutil.which(name) is None:
            raise SystemFault(f"{name} was not found on PATH: {INSTALL_HINT}")


class Children:
    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.live: set[asyncio.subprocess.Process] = set()
        self.peak = 0

    async def run(self, argv: list[str], timeout_s: float) -> ChildResult:
        """Run to completion, collecting stdout and stderr."""
        async with self.spawn(argv, timeout_s) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            out, err = await asyncio.gather(proc.stdout.read(), proc.stderr.read())
            await proc.wait()
        require_runs(argv[0], proc.returncode, err)
        return ChildResult(proc.returncode if proc.returncode is not None else -1, out, err)

    @contextlib.asynccontextmanager
    async def spawn(self, argv: list[str], timeout_s: float,
                    stdin: bool = False) -> AsyncIterator[asyncio.subprocess.Process]:
        """A live child inside a semaphore slot; killed and reaped on timeout, error or cancellation.
        `stdin`: a pipe the caller writes to (else /dev/null)."""
        async with self.semaphore:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *_dies_with_us(argv),
                    stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise SystemFault(f"{argv[0]} was not found on PATH: {INSTALL_HINT}") from None
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.ENOMEM):
                    raise SystemFault(f"cannot start {argv[0]}: {exc.strerror}") from None
                raise
            self.live.add(proc)
            self.peak = max(self.peak, len(self.live))
            try:
                async with asyncio.timeout(timeout_s):
                    yield proc
            except TimeoutError:
                raise ChildTimeout(f"{argv[0]} took longer than {timeout_s:g} s and was stopped") from None
            finally:
                if proc.returncode is None:
                    _kill(proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        await asyncio.shield(proc.wait())
                self.live.discard(proc)

    def kill_all(self) -> None:
        """Synchronous, for the second Ctrl-C: no awaiting, just make sure nothing outlives us."""
        for proc in list(self.live):
            _kill(proc.pid)


def _dies_with_us(argv: list[str]) -> list[str]:
    """Prefix util-linux's `setpriv --pdeathsig KILL`, so that even a kill -9 of dfdx leaves no child
    decoding on (a child in its own session would otherwise run until its next write to a closed pipe).
    Setting the death signal from Python would need preexec_fn, which is unsafe beside the encoder threads."""
    if _SETPRIV is None:
        return argv
    if shutil.which(argv[0]) is None:  # keep "not found" a FileNotFoundError, not setpriv's exit code
        raise FileNotFoundError(argv[0])
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]


_SETPRIV = shutil.which("setpriv")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
