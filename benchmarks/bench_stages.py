"""Where a warm text query's time goes, in process, on an existing index (issue 21: stages 1 and 2).

Opens ``--index`` read-only with the bundled model (the index must carry its fingerprint, as
``bench_serve.py --index`` builds one), embeds phrases of the synthetic corpus's vocabulary with the
numpy text encoder (what ``gestsearch search`` runs on the CPU), then times, on alternate queries, the
parts of a query the way ``Searcher._search`` runs them, or the whole ``Searcher.search`` call (so
that neither reads candidates the other has just read):

- encode: the phrase → content vectors (not part of stages 1 and 2);
- stage 1: ``store.search_pooled(pooled, candidates)``;
- read: ``store.candidates(ids)``, the candidates' spans and frame vectors (their hits' summaries are
  read inside search);
- coupling: ``coupling_scores`` of the candidates;
- search: ``Searcher.search`` from the query vectors to the hits (stages 1 and 2, merging, peaks,
  the hits' summaries).

    .venv/bin/python benchmarks/bench_stages.py --index /work/bench-idx/i8-100k [--queries 200] [--threads 1]

Prints p50/p95 per part with the load average, and writes benchmarks/out/bench_stages_<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from gestsearch import runtime
from gestsearch.config import Settings
from gestsearch.constants import DEFAULT_CANDIDATES
from gestsearch.models.numpy_text import NumpyTextEncoder
from gestsearch.scoring import coupling_scores
from gestsearch.search.engine import Searcher
from gestsearch.store import GestureStore
from gestsearch.synth.lexicon import LEXICON
from gestsearch.vectors import l2_normalize

OUT = Path(__file__).with_name("out")
WARM_UP = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--candidates", type=int, default=DEFAULT_CANDIDATES)
    parser.add_argument("--threads", type=int, default=runtime.SMALL_MODEL_THREADS, help="BLAS/FAISS threads (a query process runs 1)")
    args = parser.parse_args()
    runtime.set_threads(args.threads)

    encoder = NumpyTextEncoder.from_settings(Settings())
    words = sorted(LEXICON)
    rng = random.Random(0)
    phrases = [" ".join(rng.sample(words, rng.randint(1, 4))) for _ in range(args.queries + WARM_UP)]
    times: dict[str, list[float]] = {part: [] for part in ("encode", "stage 1", "read", "coupling", "search")}
    load_before = os.getloadavg()[0]
    with GestureStore.open(args.index, fingerprint=encoder.info.fingerprint, read_only=True) as store:
        searcher = Searcher(store, encoder, args.candidates)
        for i, phrase in enumerate(phrases):
            start = time.perf_counter()
            query = searcher.text_query(phrase)
            encoded = time.perf_counter()
            timed = i >= WARM_UP
            if timed:
                times["encode"].append((encoded - start) * 1000)
            if i % 2:  # the whole search, on candidates no part has just read (as a user's query)
                searcher.search(query, 10)
                if timed:
                    times["search"].append((time.perf_counter() - encoded) * 1000)
                continue
            with store.reading():
                ids, _ = store.search_pooled(l2_normalize(query.vectors.mean(0)), args.candidates)
                stage1 = time.perf_counter()
                frames = store.candidates(ids[0][ids[0] >= 0]).frames
                read = time.perf_counter()
                coupling_scores(query.vectors, frames)
                scored = time.perf_counter()
            if timed:
                for part, seconds in zip(("stage 1", "read", "coupling"), (stage1 - encoded, read - stage1, scored - read)):
                    times[part].append(seconds * 1000)
    load_after = os.getloadavg()[0]

    print(f"{args.queries} queries (half timed in parts, half whole), {args.candidates} candidates, {args.threads} thread(s), load {load_before:.2f} → {load_after:.2f}")
    print("| part | p50 (ms) | p95 (ms) |\n|---|---:|---:|")
    rows = {}
    for part, ms in times.items():
        rows[part] = {"p50_ms": statistics.median(ms), "p95_ms": float(np.percentile(ms, 95))}
        print(f"| {part} | {rows[part]['p50_ms']:.1f} | {rows[part]['p95_ms']:.1f} |")
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    record = {"index": str(args.index), "queries": args.queries, "candidates": args.candidates, "threads": args.threads,
              "load_before": load_before, "load_after": load_after, "parts": rows}
    (OUT / f"bench_stages_{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
