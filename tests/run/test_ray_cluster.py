"""The Ray driver's cluster checks that need no cluster: what a refused join says, and which nodes are
spared the shared-folder marker (real processes, one in a private mount namespace)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from dfdx.run.ray_cluster import auth_hint, nodes_seeing_as_we_do
from tests.conftest import have_root, wait_until


def test_a_failed_join_says_how_to_present_a_token_unless_one_is_presented():
    hint = auth_hint("10.0.0.5:6379", {})
    assert "RAY_AUTH_MODE=token" in hint and "ray get-auth-token" in hint
    assert auth_hint("10.0.0.5:6379", {"RAY_AUTH_MODE": "token"}) == ""
    assert auth_hint("auto", {}) == "" and auth_hint(None, {}) == ""  # `auto` on the head finds the token itself


def test_only_raylets_of_this_machine_in_its_mount_namespace_are_spared_the_marker(tmp_path):
    """Real processes named `raylet` (a link to Python): one here, one in a private mount namespace (as the
    blind node of the test below), one not a raylet at all; only the first one's node needs no marker."""
    raylet = tmp_path / "raylet"
    raylet.symlink_to(sys.executable)
    sleep = ["-c", "import time; time.sleep(120)"]
    procs = {"here": subprocess.Popen([str(raylet), *sleep, "--node_id=here"]),
             "not-a-raylet": subprocess.Popen([sys.executable, *sleep, "--node_id=not-a-raylet"])}  # fmt: skip
    if have_root() and shutil.which("unshare"):
        procs["elsewhere"] = subprocess.Popen(["unshare", "--mount", "--propagation", "private", str(raylet), *sleep,
                                               "--node_id=elsewhere"])  # fmt: skip
    try:
        for name, proc in procs.items():  # each has exec'd, under the name it runs as
            wait_until(lambda p=proc, n=name: f"--node_id={n}".encode() in Path(f"/proc/{p.pid}/cmdline").read_bytes())
        asked = {"here", "not-a-raylet", "elsewhere", "absent"}
        assert nodes_seeing_as_we_do(asked) == {"here"}
        assert nodes_seeing_as_we_do({"elsewhere"}) == set()
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
