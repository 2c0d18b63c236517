"""Train the tiny preset on a synthetic corpus; report held-out retrieval and spotting against chance.

    .venv/bin/python benchmarks/train_tiny.py OUT [--work DIR] [--train-clips 1500] [--extra-train-clips 0]
                                              [--heldout-clips 200]
                                              [--pretrain-epochs N | --pretrained-gestsync PTH] [--epochs N] [--lr LR] [--batch-size B]
                                              [--beta B] [--word-weight G] [--query-crop P] [--feature-dropout P]
                                              [--second-gallery 0] [--seed S]

1. ``generate_corpus`` writes WORK/train (seed 1), with ``--extra-train-clips`` a second training
   corpus WORK/train-extra (seed 3), and a held-out gallery WORK/heldout (seed 2: other phrases,
   bodies, voices), unless they are there already (WORK defaults to OUT/corpora).
2. ``train`` fits the tiny preset from scratch on the training corpora, validating on the held-out
   gallery after every epoch; the feature caches (one per corpus) go to WORK/cache so reruns and
   a larger training set skip what is there.
3. The final held-out numbers (content = text + speech): S→G and G→S R@5 over the whole gallery
   (the AVS-Ret protocol: pooled vectors, cosine), AVS-Spot accuracy (the target word's peak
   frame within its boundary ± 9 frames and softmax score ≥ 0.5), each against chance, the
   untrained model (epoch 0) and, for R@5, what a perfect gesture recogniser would get on this
   gallery (``ceiling_r5``). With ``--second-gallery N`` also the final model's numbers on a second
   held-out gallery (seed 4) that no epoch or setting was chosen on.

OUT receives the model (gestsync.pth, jegal.pth, text/), metrics.jsonl, pretrain.jsonl and
benchmark.json; the script prints a Markdown table and the exact command. Installing a run as the
bundled default model is a release step of its own: ``scripts/bundle_tiny.py OUT``.
Run it on an otherwise idle machine: timings are part of the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from gestsearch.constants import SPOT_FRAME_MARGIN
from gestsearch.media.manifest import ManifestRow, read_manifest
from gestsearch.train import CacheEvent, EpochMetrics, PretrainEpoch, StepEvent, TrainConfig, TrainReport, train
from gestsearch.train.validate import Validation, validate

RECALL_AT = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--work", type=Path, help="corpora and feature caches (default: OUT/corpora)")
    parser.add_argument("--train-clips", type=int, default=1500)
    parser.add_argument("--extra-train-clips", type=int, default=0, help="a second training corpus (seed 3) of this many clips")
    parser.add_argument("--heldout-clips", type=int, default=200)
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--pretrained-gestsync", type=Path, help="skip stage 1: an earlier run's gestsync.pth (same seed-1 corpus)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--beta", type=float)
    parser.add_argument("--word-weight", type=float)
    parser.add_argument("--query-crop", type=float)
    parser.add_argument("--feature-dropout", type=float)
    parser.add_argument("--second-gallery", type=int, default=0,
                        help="also score the final model on a second held-out gallery (seed 4) of this many clips, never seen during training or tuning")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes computing the feature caches")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work or args.out / "corpora"
    started = time.perf_counter()

    train_dirs = [corpus(work / "train", args.train_clips, seed=1)]
    if args.extra_train_clips:
        train_dirs.append(corpus(work / "train-extra", args.extra_train_clips, seed=3))
    heldout_dir = corpus(work / "heldout", args.heldout_clips, seed=2)
    second_dir = corpus(work / "heldout-2", args.second_gallery, seed=4) if args.second_gallery else None
    corpora_s = time.perf_counter() - started

    config = TrainConfig.for_preset(
        "tiny", pretrain_epochs=args.pretrain_epochs, pretrained_gestsync=args.pretrained_gestsync, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, beta=args.beta,
        word_weight=args.word_weight, query_crop=args.query_crop, feature_dropout=args.feature_dropout, workers=args.workers, seed=args.seed,
        val_corpus=heldout_dir, cache_dir=work / "cache",
    )
    report = train(train_dirs, args.out, config, progress=show)
    final, untrained = report.final, report.history[0]
    chance = chance_levels(heldout_dir, report.n_val)
    results = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "train_clips": report.n_train,
        "heldout_clips": report.n_val,
        "skipped": report.skipped,
        "config": config.to_dict(),
        "final": final.__dict__,
        "untrained": untrained.__dict__,
        "chance": chance,
        "seconds": {"corpora": corpora_s, "train_incl_cache": report.seconds,
                    "pretrain": sum(m.seconds for m in report.pretrain),
                    "epochs": sum(m.seconds for m in report.history[1:])},
    }
    if second_dir is not None:
        second = score_gallery(report, second_dir, work / "cache")
        results["second_gallery"] = {"clips": second.n, "s2g_r5": second.s2g_r5, "g2s_r5": second.g2s_r5, "spotting": second.spotting}
    (args.out / "benchmark.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(final, untrained, chance, report.n_val))
    if second_dir is not None:
        print(f"second held-out gallery (seed 4, {second.n} clips): S→G R@5 {second.s2g_r5:.1f} %, "
              f"G→S R@5 {second.g2s_r5:.1f} %, spotting {second.spotting:.1f} %")
    print(f"\ntrain clips {report.n_train}, held-out gallery {report.n_val}, {config.epochs} epochs; "
          f"corpora {corpora_s / 60:.1f} min, caches + training {report.seconds / 60:.1f} min "
          f"(epochs alone {results['seconds']['epochs'] / 60:.1f} min)")
    print(f"model: {report.gestsync}, {report.jegal}, {report.text_model}")
    print(f"reproduce: {results['command']}")


def corpus(path: Path, n_clips: int, seed: int) -> Path:
    """The synthetic corpus at ``path``, generated unless its manifest has ``n_clips`` rows already."""
    from gestsearch.synth import MANIFEST_NAME, generate_corpus

    manifest = path / MANIFEST_NAME
    if not (manifest.is_file() and len(read_manifest(manifest)) == n_clips):
        print(f"generating {n_clips} clips (seed {seed}) in {path}", flush=True)
        generate_corpus(path, n_clips, seed)
    return path


def score_gallery(report: TrainReport, gallery: Path, cache_dir: Path) -> Validation:
    """The trained model's held-out numbers on another gallery, measured as during training."""
    from gestsearch.models import load_gestsync, load_jegal
    from gestsearch.train.corpus import read_corpus
    from gestsearch.train.data import load_or_build
    from gestsearch.train.network import TrainingModel
    from gestsearch.train.trainer import CONFIG_FILE

    config = TrainConfig.from_dict(json.loads((report.out_dir / CONFIG_FILE).read_text())["config"])
    gestsync = load_gestsync(report.gestsync)
    jegal = load_jegal(report.jegal, text_backbone=report.text_model)
    blocks = config.frozen_trunk_blocks
    clips = load_or_build(read_corpus(gallery), gestsync, cache_dir, blocks, 0, config.mask_faces, jegal.config.max_frames).clips
    model = TrainingModel(gestsync, jegal, jegal.backbone(), frozen_blocks=blocks)
    model.freeze_gestsync()
    return validate(model, clips)


def chance_levels(heldout: Path, n_gallery: int) -> dict[str, float]:
    """Retrieval: K/N. Spotting: the share of frames a uniformly random peak may fall on (target
    boundary ± 9 frames, inside the clip), averaged over clips; the score threshold is ignored, so
    this is an upper bound on chance."""
    rows = read_manifest(heldout / "manifest.csv")
    shares = []
    for row in rows:
        _, start, end = row.target_boundary
        lo, hi = max(0, start - SPOT_FRAME_MARGIN), min(row.num_frames - 1, end + SPOT_FRAME_MARGIN)
        shares.append((hi - lo + 1) / row.num_frames)
    return {"r5": 100.0 * RECALL_AT / n_gallery, "spotting": 100.0 * float(np.mean(shares)),
            "r5_ceiling": ceiling_r5(rows)}


def ceiling_r5(rows: list[ManifestRow]) -> float:
    """Expected R@5 (percent) of a perfect gesture recogniser on this gallery: clip vectors are the
    normalised counts of the lexicon words gestured (the content side names the same words), so
    clips with the same gestures tie; a tie of t others is broken at random. With one gesture per
    clip, ~14 clips share each vector and even a perfect model could not reach R@5 0.9."""
    import ast

    bags = [[w for w, _, _ in ast.literal_eval(row.extra["gestures"])] for row in rows]
    words = sorted({w for bag in bags for w in bag})
    x = np.zeros((len(bags), len(words)))
    for i, bag in enumerate(bags):
        for w in bag:
            x[i, words.index(w)] += 1
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sim = np.round(x @ x.T, 9)
    own = np.diag(sim)[:, None]
    above, ties = (sim > own).sum(1), (sim == own).sum(1) - 1
    return 100.0 * float(np.mean(np.clip(RECALL_AT - above, 0, None).clip(max=ties + 1) / (ties + 1)))


def table(final: EpochMetrics, untrained: EpochMetrics, chance: dict[str, float], n: int) -> str:
    ceiling = f"{chance['r5_ceiling']:.1f} %"
    rows = [
        (f"S→G R@5 (gallery {n})", final.val_s2g_r5, untrained.val_s2g_r5, chance["r5"], ceiling),
        (f"G→S R@5 (gallery {n})", final.val_g2s_r5, untrained.val_g2s_r5, chance["r5"], ceiling),
        ("spotting accuracy", final.val_spotting, untrained.val_spotting, chance["spotting"], "100 %"),
    ]
    lines = ["| held-out, text + speech | trained | untrained | chance | perfect recogniser |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {a:.1f} % | {b:.1f} % | {c:.1f} % | {d} |" for name, a, b, c, d in rows]
    return "\n".join(lines)


def show(event) -> None:
    if isinstance(event, CacheEvent) and (event.done % 100 == 0 or event.done == event.total):
        print(f"feature cache ({event.corpus}): {event.done}/{event.total} clips", flush=True)
    elif isinstance(event, PretrainEpoch):
        print(f"pre-training epoch {event.epoch}/{event.epochs}: loss {event.loss:.3f}, spoken-word frame accuracy "
              f"{event.accuracy:.1f} % ({event.seconds:.0f} s)", flush=True)
    elif isinstance(event, StepEvent) and (event.step % 5 == 0 or event.step == event.steps):
        print(f"  epoch {event.epoch} step {event.step}/{event.steps} loss {event.loss:.3f} "
              f"(seq {event.seq_loss:.3f}, couple {event.couple_loss:.3f}, word {event.word_loss:.3f}) lr {event.lr:.2e}", flush=True)
    elif isinstance(event, EpochMetrics):
        loss = "" if event.loss is None else f"loss {event.loss:.3f} "
        print(f"epoch {event.epoch}: {loss}val S→G R@5 {event.val_s2g_r5:.1f} G→S R@5 {event.val_g2s_r5:.1f} "
              f"spotting {event.val_spotting:.1f} ({event.seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
