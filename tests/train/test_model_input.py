"""One model-input path: the frame vectors `gestsearch index` stores for a clip are the ones the
training path computes for it (same speaker crop, same mask, same networks), with the bundled model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gestsearch.assets import TINY_MODEL_DIR, bundled_model
from gestsearch.config import Settings
from gestsearch.embedding import Embedder
from gestsearch.models import load_gestsync, load_jegal
from gestsearch.store import GestureStore
from gestsearch.synth import generate_corpus
from gestsearch.synth.speech import espeak_available
from gestsearch.train import TrainConfig
from gestsearch.train.corpus import read_corpus
from gestsearch.train.data import load_or_build
from gestsearch.train.network import TrainingModel
from gestsearch.train.validate import embed
from indexer import index_folder

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")]


def test_the_index_stores_what_the_training_path_computes(tmp_path):
    corpus = tmp_path / "corpus"
    generate_corpus(corpus, 3, seed=31, workers=1)
    db = tmp_path / "index.lance"
    index_folder(corpus, Embedder.from_settings(Settings()), db)

    config = TrainConfig.from_dict(json.loads((TINY_MODEL_DIR / "train_config.json").read_text())["config"])
    gestsync_path, jegal_path, text = bundled_model()
    gestsync, jegal = load_gestsync(gestsync_path), load_jegal(jegal_path, text_backbone=text)
    blocks = config.frozen_trunk_blocks
    features = load_or_build(read_corpus(corpus), gestsync, tmp_path / "cache", blocks, 0, config.mask_faces,
                             jegal.config.max_frames)
    assert not features.skipped and len(features.clips) == 3
    model = TrainingModel(gestsync, jegal, jegal.backbone(), frozen_blocks=blocks)
    model.freeze_gestsync()
    trained = embed(model, features.clips)

    with GestureStore.open(db, read_only=True) as store:
        for clip, gestures in zip(features.clips, trained.gestures):
            (stored,) = store.clips_of_video((corpus / f"{clip.name}.mp4").resolve())
            expected = gestures[stored.start_frame : stored.end_frame + 1]
            expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
            cosine = np.sum(stored.frames.astype(np.float32) * expected, axis=1)
            assert len(cosine) == stored.end_frame - stored.start_frame + 1
            assert cosine.min() >= 0.999, f"{clip.name}: per-frame cosine down to {cosine.min():.4f}"
