"""Choose the default fusion weight of the word-coupling score (stage 2 of search).

Runs the AVS-Ret protocol on an AVS-format corpus (e.g. a held-out synthetic corpus from
`gestsearch synth`) for several weights; embeddings are computed once and cached in --db.

    .venv/bin/python benchmarks/tune_coupling.py --csv HELDOUT/manifest.csv --media HELDOUT [--db /tmp/tune.lance]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--media", type=Path, required=True)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--modalities", default="ta")
    args = parser.parse_args()
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.eval.avs import evaluate_retrieval

    embedder = Embedder.from_settings(Settings.load(device="cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "db"
        print(f"model: {embedder.info.name}; {args.csv}; modalities {args.modalities}")
        print("| coupling weight | S→G R@1 | S→G R@5 | S→G R@10 | S→G MR |")
        print("|---|---|---|---|---|")
        for w in WEIGHTS:
            r = evaluate_retrieval(args.csv, args.media, embedder, args.modalities, db, candidates=300, coupling_weight=w)
            m = r.engine["S→G"]
            print(f"| {w:.2f} | {m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} | {m['MR']:.1f} |")
        print(f"(N = {r.n_evaluated}; official pooled protocol S→G R@5 {r.official['S→G']['R@5']:.1f})")


if __name__ == "__main__":
    main()
