"""Bounded children: the limit holds, a timeout kills, a missing program is a system fault."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from dfdx.children import Children, ChildTimeout, exit_reason, require_tools
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


@pytest.mark.parametrize(("script", "says"), [
    ("exit 3", "exited with code 3"),
    ("kill -SEGV $$", "crashed (SIGSEGV)"),
    ("kill -ABRT $$", "crashed (SIGABRT)"),
    ("kill -KILL $$", "was killed (SIGKILL: out of memory? see `dmesg`)"),
    ("kill -TERM $$", "was killed (SIGTERM)"),
])  # fmt: skip
async def test_how_a_child_ended_in_words(script, says):
    result = await Children(1).run(["sh", "-c", f"ulimit -c 0; {script}"], timeout_s=5)
    assert exit_reason(result.returncode) == says


async def test_error_line_drops_the_file_name():
    result = await Children(1).run(["sh", "-c", "echo 'file:/x/y.mp4: Invalid data' >&2; exit 1"], timeout_s=5)
    assert result.error_line("/x/y.mp4") == "Invalid data"


def test_children_die_with_a_killed_dfdx(tmp_path):
    """kill -9 of the parent: its children get SIGKILL from the kernel at once (setpriv --pdeathsig)."""
    import shutil
    import signal
    import subprocess
    import sys

    if shutil.which("setpriv") is None:
        pytest.skip("util-linux's setpriv is not installed: children then end at their next write instead")
    marker = tmp_path / "pid"
    code = (
        "import asyncio, pathlib\n"
        "from dfdx.children import Children\n"
        "async def main():\n"
        "    async with Children(1).spawn(['sleep', '30'], timeout_s=60) as proc:\n"
        f"        pathlib.Path({str(marker)!r}).write_text(str(proc.pid))\n"
        "        await proc.wait()\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    child = int(marker.read_text())
    time.sleep(0.1)  # past the exec into sleep
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError("the child outlived its killed parent")
