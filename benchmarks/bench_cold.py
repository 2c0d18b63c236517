"""Wall time of a cold `gestsearch search "PHRASE"` with the bundled model (issue #21: ≤ 2 s idle).

Each run is a fresh process: ``python -c "from cli.main import main; main()" search PHRASE --db INDEX
--json`` started in a source tree (the tree's own ``cli`` and ``gestsearch`` come first on the
path), timed from start to exit. The index holds ``--clips`` store-only synthetic clips with the
bundled model's fingerprint (no media), optimized as `gestsearch index` leaves it, so the query runs the whole text path: tokenizer, text
encoder and JEGAL text head, FAISS stage 1, the store read of the candidates and re-ranking.

Measured side by side, round robin (so a change of machine load hits every variant alike):
- ``import torch``: what the numpy text path saves (it was the floor of a text query before);
- ``import torch, lancedb, transformers``: the imports the query path had before lazy loading;
- ``import lancedb`` and ``import gestsearch.store``: LanceDB with its REST namespace client, and
  without it (the store imports LanceDB through ``gestsearch/store/lancedb_import.py``);
- ``search (this tree)``;
- ``search (baseline)`` with ``--baseline DIR``: the same command in another checkout, e.g.
  ``git worktree add /tmp/gs-base HEAD`` (remove it afterwards: ``git worktree remove /tmp/gs-base``).

    .venv/bin/python benchmarks/bench_cold.py [--runs 7] [--baseline DIR] [--phrase "stop the money"]

Prints a Markdown table (median and min wall seconds, ratio to this tree) with the 1-minute load
average before each run, and writes benchmarks/out/bench_cold_<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("out")
CLI = "from cli.main import main; main()"


# Run in each source tree, so that every variant reads an index its own store code wrote.
BUILD = """
import sys
from pathlib import Path
from gestsearch.assets import bundled_model
from gestsearch.embedding import fingerprint
from gestsearch.store import GestureStore
from gestsearch.testing.store import synthetic_video
db, clips, per_video = Path(sys.argv[1]), int(sys.argv[2]), 50
with GestureStore.open(db, fingerprint=fingerprint(*bundled_model()), create=True) as store:
    for v in range(0, clips, per_video):
        store.add_video(*synthetic_video(db.parent / f"video{v // per_video:04d}.mp4", store.fingerprint, min(per_video, clips - v)))
    store.optimize()  # as `gestsearch index` leaves an index: fragments compacted, FAISS sidecar saved
"""


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, 1-minute load average just before the start)."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}:\n{proc.stderr[-2000:]}")
    return wall, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--phrase", default="stop the money")
    parser.add_argument("--baseline", type=Path, help="another source tree to time the same search in")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("GESTSEARCH_")}  # no server, no configured model
    with tempfile.TemporaryDirectory(prefix="bench_cold_") as work:
        env["XDG_CONFIG_HOME"] = work  # no user config file
        rows = measure(args, Path(work), env)
    print("| variant | median s | min s | × this tree | load (1 min) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['ratio_to_this_tree']:.2f} | "
              f"{r['load_min']:.2f}–{r['load_max']:.2f} |")
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {"command": " ".join(sys.argv), "phrase": args.phrase, "clips": args.clips, "runs": args.runs,
              "cpus": os.cpu_count(), "baseline": str(args.baseline) if args.baseline else None, "results": rows}
    (OUT / f"bench_cold_{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")


def measure(args: argparse.Namespace, work: Path, env: dict[str, str]) -> list[dict]:
    trees = {"this tree": REPO, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    variants = {
        "import torch": ([sys.executable, "-c", "import torch"], REPO),
        "import torch, lancedb, transformers": ([sys.executable, "-c", "import torch, lancedb, transformers"], REPO),
        # LanceDB with and without its REST namespace client (gestsearch/store/lancedb_import.py)
        "import lancedb": ([sys.executable, "-c", "import lancedb"], REPO),
        "import gestsearch.store": ([sys.executable, "-c", "import gestsearch.store"], REPO),
    }
    for name, tree in trees.items():
        db = work / name.replace(" ", "_") / "index.lance"
        subprocess.run([sys.executable, "-c", BUILD, str(db), str(args.clips)], cwd=tree, env=env, check=True)
        variants[f"search ({name})"] = ([sys.executable, "-c", CLI, "search", args.phrase, "--db", str(db), "--json"], tree)
    for argv, cwd in variants.values():  # warm the page cache: cold means a fresh process, not a cold disk
        timed(argv, cwd, env)

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.runs):
        for name, (argv, cwd) in variants.items():
            samples[name].append(timed(argv, cwd, env))

    ours = statistics.median(w for w, _ in samples["search (this tree)"])
    rows = []
    for name, runs in samples.items():
        walls, loads = [w for w, _ in runs], [x for _, x in runs]
        rows.append({"variant": name, "median_s": statistics.median(walls), "min_s": min(walls), "walls_s": walls,
                     "ratio_to_this_tree": statistics.median(walls) / ours, "load_min": min(loads), "load_max": max(loads)})
    return rows


if __name__ == "__main__":
    main()
