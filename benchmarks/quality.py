"""Search quality through the product path, next to what the trainer's validation says.

    .venv/bin/python benchmarks/quality.py OUT [--clips 120] [--seed 7] [--k 10]

1. Renders a held-out synthetic archive (``gestsearch synth``; pick a seed no corpus was trained
   or tuned on: training used seeds 1-4, the demo 424242) into OUT/archive.
2. Indexes it with the real indexer (``indexer.index_folder``, tracks ``auto``, as
   ``gestsearch index`` does) into OUT/index.lance, with the configured models (the bundled
   tiny model unless GESTSEARCH_GESTSYNC / GESTSEARCH_JEGAL are set).
3. Searches it through the real search path (``Searcher``, as ``gestsearch search``):
   - phrase queries: each clip's phrase, text only (what users type) and speech + text (the
     clip's own speech with its phrase as transcript, aligned offline); R@1, R@5, R@10 = the
     clip among the top 1 / 5 / 10 hits;
   - one-word queries: each gesture word of the lexicon; right when the top hit has that gesture
     and the word's peak lies in the rendered stroke ± 9 frames;
   - spotting: for each clip, the target word's AVS-Spot peak over the frame vectors the index
     stores, with the clip's text + speech content (peak within ± 9 frames, score ≥ 0.5).
4. Scores the same archive with the trainer's validation (``gestsearch.train.validate`` on the
   training path's cached features, bundled model), side by side.

Writes OUT/quality.json and prints a Markdown table. Everything is timed; run it on an
otherwise idle machine and quote the load average with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from gestsearch.config import Settings
from gestsearch.constants import SPOT_FRAME_MARGIN, SPOT_THRESHOLD
from gestsearch.embedding import Embedder
from gestsearch.eval.metrics import spotting_attention, spotting_correct
from gestsearch.media import load_audio
from gestsearch.media.manifest import read_manifest
from gestsearch.search import Searcher
from gestsearch.store import GestureStore
from gestsearch.synth import LEXICON, MANIFEST_NAME, generate_corpus
from gestsearch.synth.truth import gesture_found, rendered_gestures
from indexer import index_folder

RECALL_AT = (1, 5, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7, help="held out: never used to train or to choose settings")
    parser.add_argument("--k", type=int, default=10, help="hits per query")
    parser.add_argument("--skip-validation", action="store_true", help="only the product path")
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    archive, db = args.out / "archive", args.out / "index.lance"

    start = time.perf_counter()
    if not (archive / MANIFEST_NAME).is_file():
        generate_corpus(archive, args.clips, args.seed)
    seconds["render"] = time.perf_counter() - start

    embedder = Embedder.from_settings(Settings.load())
    start = time.perf_counter()
    index_folder(archive, embedder, db)
    seconds["index"] = time.perf_counter() - start

    start = time.perf_counter()
    product = product_path(archive, db, embedder, args.k)
    seconds["search"] = time.perf_counter() - start

    validation = None
    if not args.skip_validation:
        start = time.perf_counter()
        validation = trainer_validation(archive, args.out / "cache")
        seconds["validation"] = time.perf_counter() - start

    results = {
        "seed": args.seed, "clips": args.clips, "model": embedder.info.name, "fingerprint": embedder.info.fingerprint,
        "product": product, "validation": validation, "seconds": seconds, "load_average": os.getloadavg(),
    }
    (args.out / "quality.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(product, validation, args.seed, args.clips))
    print(f"\ntimes: {', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())}; load average {os.getloadavg()[0]:.1f}")


def product_path(archive: Path, db: Path, embedder: Embedder, k: int) -> dict:
    rows = read_manifest(archive / MANIFEST_NAME)
    truth = rendered_gestures(archive / MANIFEST_NAME)
    text_ranks, speech_ranks, spotted, one_word = [], [], [], {}
    with GestureStore.open(db, read_only=True) as store:
        searcher = Searcher(store, embedder)
        for row in rows:
            video = archive / f"{row.filename}.mp4"
            text_ranks.append(_rank(searcher.search(searcher.text_query(row.phrase), k).result, video))
            speech = searcher.audio_query(video, transcript=row.phrase)
            speech_ranks.append(_rank(searcher.search(speech, k).result, video))
            if row.target_boundary is not None:
                spotted.append(_spotted(store, embedder, row, video))
        words = [w for w, _ in Counter(w for spans in truth.values() for w, _, _ in spans).most_common()]
        for word in sorted(set(words) & set(LEXICON)):
            hits = searcher.search(searcher.text_query(word), k).result.hits
            one_word[word] = gesture_found(hits[0] if hits else None, word, truth).ok
    return {
        "text": _recall(text_ranks), "speech_text": _recall(speech_ranks),
        "one_word_right": sum(one_word.values()), "one_word_total": len(one_word), "one_word": one_word,
        "spotting": 100.0 * float(np.mean(spotted)) if spotted else None,
    }


def _rank(result, video: Path) -> int | None:
    """0-based rank of the clip of ``video`` among the hits, None when it is not among them."""
    return next((h.rank - 1 for h in result.hits if Path(h.video_path) == video.resolve()), None)


def _recall(ranks: list[int | None]) -> dict[str, float]:
    return {f"R@{r}": 100.0 * sum(x is not None and x < r for x in ranks) / len(ranks) for r in RECALL_AT}


def _spotted(store: GestureStore, embedder: Embedder, row, video: Path) -> bool:
    """AVS-Spot on what the index stores: the target word's peak over the stored frame vectors
    of the clip that holds it, with the clip's text + speech content."""
    word, start, end = row.target_boundary
    clip = next((c for c in store.clips_of_video(video.resolve()) if c.start_frame <= start and end <= c.end_frame), None)
    if clip is None:
        return False
    audio = load_audio(video)
    content = embedder.content([w for w, _, _ in row.word_boundaries], audio, row.word_boundaries, "ta")
    attention = spotting_attention(clip.frames.astype(np.float32), content)
    target = (start - clip.start_frame, end - clip.start_frame)
    return spotting_correct(attention[row.target_index], target, SPOT_FRAME_MARGIN, SPOT_THRESHOLD)


def trainer_validation(archive: Path, cache_dir: Path) -> dict:
    """The trainer's own validation of the bundled model on the same archive (training path)."""
    from gestsearch.assets import TINY_MODEL_DIR, bundled_model
    from gestsearch.models import load_gestsync, load_jegal
    from gestsearch.train import TrainConfig
    from gestsearch.train.corpus import read_corpus
    from gestsearch.train.data import load_or_build
    from gestsearch.train.network import TrainingModel
    from gestsearch.train.validate import validate

    config = TrainConfig.from_dict(json.loads((TINY_MODEL_DIR / "train_config.json").read_text())["config"])
    gestsync_path, jegal_path, text = bundled_model()
    gestsync, jegal = load_gestsync(gestsync_path), load_jegal(jegal_path, text_backbone=text)
    blocks = config.frozen_trunk_blocks
    clips = load_or_build(read_corpus(archive), gestsync, cache_dir, blocks, 0, config.mask_faces, jegal.config.max_frames).clips
    model = TrainingModel(gestsync, jegal, jegal.backbone(), frozen_blocks=blocks)
    model.freeze_gestsync()
    v = validate(model, clips)
    return {"clips": v.n, "s2g_r5": v.s2g_r5, "g2s_r5": v.g2s_r5, "spotting": v.spotting}


def table(product: dict, validation: dict | None, seed: int, clips: int) -> str:
    def cell(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f} %"

    v = validation or {}
    lines = [f"| seed {seed}, {clips} clips | product path | trainer validation |", "|---|---|---|"]
    for name, key in (("phrase, text only", "text"), ("phrase, speech + text", "speech_text")):
        for r in RECALL_AT:
            lines.append(f"| {name} R@{r} | {cell(product[key][f'R@{r}'])} | "
                         f"{cell(v.get('s2g_r5')) if r == 5 and key == 'speech_text' else '-'} |")
    lines.append(f"| one-word top-1 right | {product['one_word_right']} of {product['one_word_total']} | - |")
    lines.append(f"| spotting | {cell(product['spotting'])} | {cell(v.get('spotting'))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
