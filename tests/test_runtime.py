"""The thread policy: cores from the affinity mask and cgroup CPU quotas; one thread for small models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gestsearch import runtime

CPUS = {0, 1, 2, 3}


def cgroup(path: Path, v2: str | None = None, v1: tuple[int, int] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        (path / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (path / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (path / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return path


@pytest.mark.parametrize(
    "limit, cores",
    [("max 100000", 4), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1), ("800000 100000", 4)],
)
def test_a_v2_quota_caps_the_affinity(tmp_path, limit, cores):
    assert runtime.usable_cores(CPUS, [cgroup(tmp_path, v2=limit)]) == cores


def test_the_tightest_limit_of_the_cgroup_and_its_parents_counts(tmp_path):
    parent = cgroup(tmp_path, v2="100000 100000")
    child = cgroup(tmp_path / "app", v2="max 100000")
    assert runtime.usable_cores(CPUS, [child, parent]) == 1


@pytest.mark.parametrize("quota, cores", [(-1, 4), (300000, 3)])
def test_v1_quota(tmp_path, quota, cores):
    assert runtime.usable_cores(CPUS, [cgroup(tmp_path, v1=(quota, 100000))]) == cores


def test_no_cgroup_files_and_the_affinity_alone(tmp_path):
    assert runtime.usable_cores({3}, [tmp_path]) == 1
    assert runtime.usable_cores(CPUS, []) == 4


def test_own_cgroups_walks_up_to_the_mount(tmp_path):
    v2_root = tmp_path / "v2"
    cgroup(v2_root / "system.slice" / "job.service")
    (v2_root / "cgroup.controllers").write_text("cpu memory\n")
    proc = tmp_path / "cgroup_v2"
    proc.write_text("0::/system.slice/job.service\n")
    assert runtime.own_cgroups(proc, v2_root) == [v2_root / "system.slice" / "job.service", v2_root / "system.slice", v2_root]

    v1_root = tmp_path / "v1"
    proc.write_text("4:memory:/x\n2:cpu,cpuacct:/docker/abc\n0::/\n")
    assert runtime.own_cgroups(proc, v1_root) == [v1_root / "cpu" / "docker" / "abc", v1_root / "cpu" / "docker", v1_root / "cpu"]
    assert runtime.own_cgroups(tmp_path / "absent", v1_root) == []


def test_this_process():
    assert 1 <= runtime.usable_cores() <= len(os.sched_getaffinity(0))


def test_small_models_run_on_one_thread_and_the_count_comes_back():
    before = torch.get_num_threads()
    with runtime.small_model_threads():
        assert torch.get_num_threads() == runtime.SMALL_MODEL_THREADS
    assert torch.get_num_threads() == before


def test_limit_threads_caps_and_never_raises():
    before = torch.get_num_threads()
    try:
        runtime.set_threads(1)
        assert runtime.limit_threads() == 1
        runtime.set_threads(runtime.usable_cores() + 3)
        assert runtime.limit_threads() == runtime.usable_cores() == torch.get_num_threads()
    finally:
        runtime.set_threads(before)


def test_set_threads_limits_numpy_blas_and_a_torch_imported_later():
    """A query process sets one thread before it knows whether torch will be needed: numpy's BLAS
    follows at once, torch at its import (through OMP_NUM_THREADS)."""
    code = (
        "import sys, numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from gestsearch import runtime\n"
        "runtime.set_threads(1)\n"
        "assert 'torch' not in sys.modules\n"
        "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "import torch\n"
        "print(blas, torch.get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    blas, torch_threads = out.stdout.rsplit(" ", 1)
    assert set(json.loads(blas)) == {1} and int(torch_threads) == 1


@pytest.mark.parametrize(("limits", "now"), [((1024, 524_288), 16_384), ((1024, 4096), 4096), ((65_536, 65_536), 65_536)])
def test_a_server_raises_its_open_files_limit_as_far_as_the_hard_limit_allows(monkeypatch, limits, now):
    import resource

    set_to = []
    monkeypatch.setattr(resource, "getrlimit", lambda which: limits)
    monkeypatch.setattr(resource, "setrlimit", lambda which, pair: set_to.append(pair))
    assert runtime.raise_open_files(16_384) == now
    assert set_to == ([] if limits[0] >= 16_384 else [(now, limits[1])])


def test_environment_sets_values_inside_the_block_only(monkeypatch):
    from gestsearch.runtime import environment

    monkeypatch.setenv("GS_KEPT", "before")
    monkeypatch.delenv("GS_NEW", raising=False)
    with pytest.raises(RuntimeError), environment(GS_KEPT="inside", GS_NEW="1"):
        assert (os.environ["GS_KEPT"], os.environ["GS_NEW"]) == ("inside", "1")
        raise RuntimeError
    assert os.environ["GS_KEPT"] == "before" and "GS_NEW" not in os.environ
