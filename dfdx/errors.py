"""The two kinds of error a user sees: one to fix in their input, one that stops the whole run."""


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
