"""One run per output folder; the lock dies with its holder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dfdx.errors import SystemFault
from dfdx.lock import OutputLock


def test_second_holder_refused_and_lock_released(tmp_path):
    with OutputLock(tmp_path), pytest.raises(SystemFault, match=f"another dfdx run \\(pid {os.getpid()}\\)"):
        OutputLock(tmp_path).__enter__()
    with OutputLock(tmp_path):  # released at exit
        pass


def test_a_dead_holder_never_blocks(tmp_path):
    code = (f"import os; from pathlib import Path; from dfdx.lock import OutputLock; "
            f"OutputLock(Path({str(tmp_path)!r})).__enter__(); os._exit(0)")  # dies holding it
    subprocess.run([sys.executable, "-c", code], check=True)
    with OutputLock(tmp_path):
        pass
