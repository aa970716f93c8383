"""Bounded children: the limit holds, a timeout kills, a missing program is a system fault."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from dfdx.children import Children, ChildTimeout, require_tools
from dfdx.errors import SystemFault


async def test_limit_timeout_and_reaping():
    children = Children(2)
    started = time.monotonic()
    results = await asyncio.gather(*(children.run(["sleep", "0.3"], timeout_s=10) for _ in range(4)))
    assert [r.returncode for r in results] == [0] * 4
    assert children.peak == 2 and time.monotonic() - started >= 0.6  # two at a time, never four
    with pytest.raises(ChildTimeout, match=r"took longer than 0\.2 s"):
        await children.run(["sleep", "30"], timeout_s=0.2)
    assert children.live == set()


async def test_cancellation_kills_the_child():
    children = Children(1)
    task = asyncio.create_task(children.run(["sleep", "30"], timeout_s=60))
    while not children.live:
        await asyncio.sleep(0.01)
    pid = next(iter(children.live)).pid
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_missing_program_is_a_system_fault():
    with pytest.raises(SystemFault, match="not found on PATH: install it"):
        await Children(1).run(["dfdx-no-such-program"], timeout_s=5)
    with pytest.raises(SystemFault, match="dfdx-no-such-program was not found"):
        require_tools("dfdx-no-such-program")


async def test_error_line_drops_the_file_name():
    result = await Children(1).run(["sh", "-c", "echo 'file:/x/y.mp4: Invalid data' >&2; exit 1"], timeout_s=5)
    assert result.error_line("/x/y.mp4") == "Invalid data"
