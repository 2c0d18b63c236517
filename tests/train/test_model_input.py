"""One model-input path: the frame vectors `gestsearch index` stores for a clip, and those eval's
gallery computes for it, are the ones the training path computes for it (same speaker crop, same mask, same networks), with the bundled model;
and the training features do not depend on how many processes compute them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gestsearch.assets import TINY_MODEL_DIR, bundled_model
from gestsearch.config import Settings
from gestsearch.embedding import Embedder
from gestsearch.eval.avs import build_gallery
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
    embedder = Embedder.from_settings(Settings())
    index_folder(corpus, embedder, db)

    config = TrainConfig.from_dict(json.loads((TINY_MODEL_DIR / "train_config.json").read_text())["config"])
    gestsync_path, jegal_path, text = bundled_model()
    gestsync, jegal = load_gestsync(gestsync_path), load_jegal(jegal_path, text_backbone=text)
    blocks = config.frozen_trunk_blocks
    features = load_or_build(read_corpus(corpus), gestsync, tmp_path / "cache", blocks, 0, config.mask_faces,
                             jegal.config.max_frames)
    assert not features.skipped and len(features.clips) == 3
    in_workers = load_or_build(read_corpus(corpus), load_gestsync(gestsync_path), tmp_path / "cache2", blocks, 0,
                               config.mask_faces, jegal.config.max_frames, workers=2)
    for one, two in zip(features.clips, in_workers.clips, strict=True):
        assert (one.name, one.boundaries) == (two.name, two.boundaries)
        assert torch.allclose(one.activations.float(), two.activations.float(), atol=1e-2)
        assert torch.equal(one.mel, two.mel)
    model = TrainingModel(gestsync, jegal, jegal.backbone(), frozen_blocks=blocks)
    model.freeze_gestsync()
    trained = embed(model, features.clips)

    with GestureStore.open(db, read_only=True) as store:
        for clip, gestures in zip(features.clips, trained.gestures):
            (stored,) = store.clips_of_video((corpus / f"{clip.name}.mp4").resolve())
            assert_same_frames(clip.name, stored.frames, gestures[stored.start_frame : stored.end_frame + 1])

    # eval's gallery path, on the same clips read as an AVS-format manifest
    eval_db = tmp_path / "eval.lance"
    with GestureStore.open(eval_db, fingerprint=embedder.info.fingerprint, create=True) as store:
        gallery = build_gallery(corpus / "manifest.csv", corpus, embedder, "t", store, eval_db, "ret")
    assert [row.filename for row in gallery.rows] == [clip.name for clip in features.clips]
    for clip, frames, gestures in zip(features.clips, gallery.gestures, trained.gestures, strict=True):
        assert_same_frames(clip.name, frames, gestures[: len(frames)])


def assert_same_frames(name: str, stored: np.ndarray, computed: np.ndarray) -> None:
    computed = computed / np.linalg.norm(computed, axis=1, keepdims=True)
    assert stored.shape == computed.shape
    cosine = np.sum(stored.astype(np.float32) * computed, axis=1)
    assert cosine.min() >= 0.999, f"{name}: per-frame cosine down to {cosine.min():.4f}"
