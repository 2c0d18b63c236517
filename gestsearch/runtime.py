"""Thread policy: how many threads the models may use.

* Bulk work (GestSync and the JEGAL gesture head while indexing or embedding) uses every core this
  process may actually run on: the CPU affinity mask, further limited by a cgroup CPU quota
  (containers, systemd slices). Neither torch nor OpenVINO reads the quota themselves, and more
  threads than the quota allows only adds waits.
* The small per-query models (the text encoder and JEGAL's content heads) run on one thread: a
  phrase is too little work to share, and when other processes keep the cores busy two threads
  made them 8–50× slower than one (benchmarks/README.md). The same holds for numpy's BLAS, which
  runs stage 2's scoring and the numpy text encoder: 100 ms against 2–8 ms for a phrase with two
  OpenBLAS threads on busy cores.

A resident server also raises its soft limit on open files (:func:`raise_open_files`): its reader
keeps a share of it as open frame files (``gestsearch.store.framefiles``).

Nothing here imports torch: a text query answered by the numpy encoder never loads it.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

SMALL_MODEL_THREADS = 1
ONEDNN_CACHE_SHAPES = 64  # kernels per input shape oneDNN keeps (see limit_threads)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(affinity: set[int] | None = None, cgroups: Sequence[Path] | None = None) -> int:
    """Cores this process may use: the affinity mask, capped by the CPU quota of its cgroups.

    ``affinity``: CPU ids (default: ``os.sched_getaffinity(0)``). ``cgroups``: the directories whose
    limits apply, the process's cgroup and its parents (default: :func:`own_cgroups`); the quota is
    the smallest of their ``cpu.max`` (cgroup v2) or ``cpu.cfs_quota_us`` (v1) limits, rounded up.
    """
    if affinity is None:
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    cores = max(1, len(affinity))
    quota = cpu_quota(own_cgroups() if cgroups is None else cgroups)
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def cpu_quota(cgroups: Sequence[Path]) -> float | None:
    """The smallest CPU limit (in CPUs' worth of time) among ``cgroups``; None: no limit."""
    limits = [_read_v2(d / "cpu.max") or _read_v1(d / "cpu.cfs_quota_us", d / "cpu.cfs_period_us") for d in cgroups]
    return min((limit for limit in limits if limit), default=None)


def own_cgroups(proc_file: Path = Path("/proc/self/cgroup"), root: Path = CGROUP_ROOT) -> list[Path]:
    """This process's CPU cgroup directory and its parents up to the mount root: the unified (v2)
    hierarchy when ``root`` is one, else the v1 ``cpu`` controller's."""
    try:
        lines = proc_file.read_text().splitlines()
    except OSError:
        return []
    unified = (root / "cgroup.controllers").exists()
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if unified and hierarchy == "0":
            mount = root
        elif not unified and "cpu" in controllers.split(","):
            mount = root / "cpu"
        else:
            continue
        relative = Path(path.lstrip("/"))
        return [mount / p for p in (relative, *relative.parents)]
    return []


def _read_v2(path: Path) -> float | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _read_v1(quota_file: Path, period_file: Path) -> float | None:
    try:
        quota, period = int(quota_file.read_text()), int(period_file.read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def limit_threads() -> int:
    """Cap torch's threads at :func:`usable_cores` (never raise them: an explicit lower setting,
    ``OMP_NUM_THREADS`` or a query process's one thread, stays). Returns the count in force."""
    # oneDNN keeps a kernel per input shape (1,024 by default) and every indexed video brings new
    # shapes; read when its first kernel is made, so before any model runs
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_SHAPES))
    import torch

    threads = min(torch.get_num_threads(), usable_cores())
    torch.set_num_threads(threads)
    return threads


def set_threads(threads: int) -> None:
    """Run torch and numpy's BLAS on ``threads`` threads from now on (a query server, a one-off
    query, a worker process of a pool). torch, when it is not imported yet, takes the count from
    ``OMP_NUM_THREADS`` at its import."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ["OMP_NUM_THREADS"] = str(threads)


@contextmanager
def small_model_threads() -> Iterator[None]:
    """torch on :data:`SMALL_MODEL_THREADS` inside the block, as before after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(SMALL_MODEL_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit on open files to ``wanted`` where the hard limit allows (the
    usual soft limit is 1,024 under a hard limit of 2^19); the soft limit now."""
    try:
        import resource
    except ImportError:  # not a Unix
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """The process environment with ``values`` set inside the block, as it was after it (what a
    library reads once, at its import or when it starts its processes)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
