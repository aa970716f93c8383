"""`dfdx extract`: pick the runner (`run.runner`), wire Ctrl-C/SIGTERM to it, print the summary, and
return the exit code (`dfdx.errors` owns the codes)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from dfdx import plugins
from dfdx.config import Config
from dfdx.errors import EXIT_FAULT, EXIT_FOR_SIGNAL, EXIT_OK, exit_code_for, print_error
from dfdx.run import Runner, RunStats
from dfdx.run.console import console_logging, done_line


def run_extract(cfg: Config, *, by_part: bool = False, extract: bool = True) -> int:
    """Run the extraction under signal handling; print the summary; return the exit code. `by_part`: DFDC
    part by part (`dfdx run --profile dfdc`), downloading each part first (`extract` False: only that)."""
    out = Path(cfg.output_dir)
    console = console_logging(cfg.verbose, cfg.quiet)
    t0 = time.monotonic()
    try:
        stats = asyncio.run(_run_with_signals(cfg, by_part, extract))
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        print_error(str(exc))
        return code
    finally:
        logging.getLogger("dfdx").removeHandler(console)
    wall = time.monotonic() - t0
    if stats.fault is not None:
        print_error(stats.fault)
        print(done_line(stats, wall), file=sys.stderr)
        print("dfdx: what was done is kept; fix the cause and run the same command again to resume.",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAULT
    if stats.stopped_by is not None:
        print(f"\ndfdx: stopped by {stats.stopped_by.name}. {done_line(stats, wall)}", file=sys.stderr)
        print("dfdx: run the same command again to resume where it stopped.", file=sys.stderr)
        return EXIT_FOR_SIGNAL[stats.stopped_by]
    if not cfg.quiet:
        from dfdx.inspect.report import summary_text

        print(done_line(stats, wall), file=sys.stderr)
        print(summary_text(out, stats.report), file=sys.stderr)
    return EXIT_OK


async def _run_with_signals(cfg: Config, by_part: bool, extract: bool) -> RunStats:
    runner: Runner = plugins.load("run.runner", cfg.run.runner)(cfg)
    loop = asyncio.get_running_loop()
    stopped = False

    def on_signal(sig: signal.Signals) -> None:
        nonlocal stopped
        if stopped:
            runner.abort()  # second signal: leave nothing behind, exit now
            os._exit(EXIT_FOR_SIGNAL[sig])
        stopped = True
        runner.stop(sig)

    for sig in EXIT_FOR_SIGNAL:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await (runner.run_parts(extract) if by_part else runner.run())
    finally:
        for sig in EXIT_FOR_SIGNAL:
            loop.remove_signal_handler(sig)
