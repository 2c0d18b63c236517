"""Do rankings survive bf16 GestSync? The same archive indexed with OpenVINO fp32 and bf16.

    .venv/bin/python benchmarks/bench_precision.py OUT [--clips 40] [--seed 9] [--k 10]

Renders a synthetic archive (``gestsearch synth``; seed 9 by default, which no training run used)
into OUT/archive, indexes it twice with the real indexer and the configured models (the bundled
tiny model unless GESTSEARCH_GESTSYNC / GESTSEARCH_JEGAL are set), once with GestSync in fp32 and
once in bf16 (everything else equal), and runs the same text queries on both indexes through the
real Searcher: each clip's phrase and each gesture word of the lexicon. Prints the mean top-k
overlap |fp32 ∩ bf16| / k and how often the top hit is the same (issue 21 asks for ≥ 0.99 at k = 10).
Needs a CPU with native bfloat16 (``gestsearch.models.backend.native_bf16``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from gestsearch.config import Settings
from gestsearch.embedding import Embedder
from gestsearch.media.manifest import read_manifest
from gestsearch.search import Searcher
from gestsearch.store import GestureStore
from gestsearch.synth import LEXICON, MANIFEST_NAME, generate_corpus
from indexer import index_folder

PRECISIONS = ("fp32", "bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    archive = args.out / "archive"
    if not (archive / MANIFEST_NAME).is_file():
        generate_corpus(archive, args.clips, args.seed)
    queries = [row.phrase for row in read_manifest(archive / MANIFEST_NAME)] + sorted(LEXICON)

    hits: dict[str, list[list[tuple]]] = {}
    seconds: dict[str, float] = {}
    for precision in PRECISIONS:
        embedder = Embedder.from_settings(Settings.load(backend="openvino", precision=precision))
        db = args.out / f"index-{precision}.lance"
        start = time.perf_counter()
        index_folder(archive, embedder, db)
        seconds[precision] = time.perf_counter() - start
        with GestureStore.open(db, read_only=True) as store:
            searcher = Searcher(store, embedder)
            hits[precision] = [
                [(h.video_path, h.track, h.clip_start_s) for h in searcher.search(searcher.text_query(q), args.k).result.hits]
                for q in queries
            ]

    overlap = [len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(hits["fp32"], hits["bf16"])]
    same_top = [bool(a) and bool(b) and a[0] == b[0] for a, b in zip(hits["fp32"], hits["bf16"])]
    print(f"{args.clips} clips (seed {args.seed}), {len(queries)} text queries, k = {args.k}; model: {embedder.info.name}")
    print(f"top-{args.k} overlap fp32 vs bf16: mean {np.mean(overlap):.4f}, min {min(overlap):.2f}; "
          f"same top-1 in {sum(same_top)} of {len(queries)}")
    print(f"index time: fp32 {seconds['fp32']:.0f} s, bf16 {seconds['bf16']:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
