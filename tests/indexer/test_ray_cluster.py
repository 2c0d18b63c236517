"""A local Ray cluster that `gestsearch index --ray auto` starts itself (tests/indexer/test_ray.py
connects one of its own)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'gestsearch[ray]')")

pytestmark = pytest.mark.slow  # starts a cluster (~6 s)

REPO = Path(__file__).resolve().parents[2]

# In a process of its own: Ray keeps per-process state (its auth mode, its session) from any cluster
# this test process connected before.
SCRIPT = """
import os, ray
from indexer.distributed import LOCAL, _cluster
with _cluster(ray, LOCAL):
    print(ray.get(ray.remote(lambda: os.environ.get("RAY_USAGE_STATS_ENABLED")).remote()))
    print(os.environ.get("RAY_USAGE_STATS_ENABLED"))
print(ray.is_initialized())
"""


def test_a_cluster_started_here_reports_no_usage_statistics():
    """Ray sends usage statistics to its servers unless told not to; the processes of a cluster
    gestsearch starts are told (its workers inherit the setting), and the indexer's own
    environment is left as it was."""
    home = Path(tempfile.mkdtemp(prefix="rayhome"))  # short: Ray's socket paths must stay under 107 bytes
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_USAGE_STATS_ENABLED", "RAY_ADDRESS")}
    try:
        out = subprocess.run([sys.executable, "-c", SCRIPT], env={**env, "HOME": str(home)}, cwd=REPO,
                             capture_output=True, text=True, timeout=120, check=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert out.stdout.split() == ["0", "None", "False"]
