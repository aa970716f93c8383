"""The kinds of error a user sees, and the one place that turns them into exit codes and messages.

Exit codes: 0 done (failed videos included: they are data), 1 a fault of the system stopped the run,
2 a usage or config error (nothing was written), 130/143 stopped by Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import signal
import sys

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2
EXIT_FOR_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class ConfigError(ValueError):
    """A config value or option a user must fix; the message names the key and what is allowed."""


class UsageError(ValueError):
    """A command-line or input problem found before any work starts (missing dataset, no videos)."""


class SystemFault(RuntimeError):
    """A fault of the machine, not of one video (disk full, ffmpeg missing, output not writable).

    It stops the run with one message instead of turning into a failed ledger line per video.
    """


class DiskFull(SystemFault):
    """No space left where dfdx writes; the engine adds how much is free and how much is needed."""


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code of an error a user should see as one message; None for anything else (a bug)."""
    if isinstance(exc, ConfigError | UsageError):
        return EXIT_USAGE
    if isinstance(exc, SystemFault):
        return EXIT_FAULT
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_FOR_SIGNAL[signal.SIGINT]
    return None


def print_error(message: str, command: str = "dfdx") -> None:
    print(f"{command}: error: {message}", file=sys.stderr, flush=True)
