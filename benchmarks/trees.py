"""This checkout's code timed against another checkout's (``--baseline DIR`` of the benchmarks):
each pass runs in a fresh process whose ``PYTHONPATH`` is one tree, and rounds alternate between
the trees, swapping the order every round, so a change in machine load hits both alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


def on_tree(tree: Path, argv: Sequence[str], cwd: Path) -> dict:
    """``python argv…`` on ``tree``'s code; the last line it prints, read as JSON."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    proc = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tree} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def alternating(names: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round, from 1; name): every name each round, in reverse order every other round."""
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            yield r + 1, name
