"""Validation during training, with the evaluation protocol of ``gestsearch.eval.metrics``:
pooled-vector retrieval (R@5 both ways, content from text + speech) and AVS-Spot word spotting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gestsearch.eval.metrics import retrieval_metrics, retrieval_ranks, similarity_matrix, spotting_attention, spotting_correct
from gestsearch.train.data import ClipFeatures
from gestsearch.train.losses import pooled
from gestsearch.train.network import TrainingModel


@dataclass(frozen=True)
class Validation:
    n: int  # clips (the retrieval gallery)
    s2g_r5: float  # content → gesture R@5, percent
    g2s_r5: float  # gesture → content R@5, percent
    spotting: float | None  # percent of targets spotted; None without targets
    n_targets: int


@dataclass
class Embeddings:
    gestures: list[np.ndarray]  # per clip (T, dim)
    content: list[np.ndarray]  # per clip (W, dim)


@torch.no_grad()
def embed(model: TrainingModel, clips: list[ClipFeatures], batch_size: int = 64) -> Embeddings:
    """Every clip's gesture and content embeddings (eval mode, both modalities), unpadded."""
    model.train(False)
    out = Embeddings([], [])
    for i in range(0, len(clips), batch_size):
        batch = clips[i : i + batch_size]
        gestures, _ = model.gestures(batch)
        content, _ = model.content(batch)
        for j, clip in enumerate(batch):
            out.gestures.append(gestures[j, : clip.n_frames].numpy())
            out.content.append(content[j, : len(clip.boundaries)].numpy())
    return out


def validate(model: TrainingModel, clips: list[ClipFeatures], batch_size: int = 64) -> Validation:
    emb = embed(model, clips, batch_size)
    pooled_g = np.stack([_pool(g) for g in emb.gestures])
    pooled_c = np.stack([_pool(c) for c in emb.content])
    s2g = retrieval_metrics(retrieval_ranks(similarity_matrix(pooled_c, pooled_g)), (5,))["R@5"]
    g2s = retrieval_metrics(retrieval_ranks(similarity_matrix(pooled_g, pooled_c)), (5,))["R@5"]
    hits = [
        spotting_correct(spotting_attention(g, c)[clip.target], clip.boundaries[clip.target][1:])
        for clip, g, c in zip(clips, emb.gestures, emb.content)
        if clip.target is not None
    ]
    spotting = 100.0 * sum(hits) / len(hits) if hits else None
    return Validation(len(clips), s2g, g2s, spotting, len(hits))


def _pool(x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x)[None]
    return pooled(t, torch.ones(t.shape[:2]))[0].numpy()
