"""Stage-2 scoring of ``gestsearch search``: word coupling, fusion and word peaks.

Pure functions on numpy arrays. Word vectors ``(W, D)`` are the query's content
embeddings, frame vectors ``(n, D)`` a clip's per-frame gesture embeddings (one per
25 fps frame). Both are expected L2-normalised, as the store keeps them, so a dot
product is a cosine; float16 inputs are upcast to float32 before any arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gestsearch.constants import SPOTTING_TEMPERATURE
from gestsearch.errors import ConfigError
from gestsearch.results import WordPeak

DEFAULT_COUPLING_WEIGHT = 0.5  # chosen on held-out evaluation data: see docs/scoring.md
_CHUNK_FRAMES = 32_768  # frames upcast and multiplied at a time in coupling_scores (~64 MB)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` divided by their L2 norm (floored at ``eps``, like torch's F.normalize); float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def coupling_score(words: np.ndarray, frames: np.ndarray) -> float:
    """JEGAL word coupling λ of one clip: mean over query words of the best cosine over frames.

    ``words`` (W, D) and ``frames`` (n, D), both L2-normalised. λ is ColBERT's MaxSim
    divided by W, so it lies in [-1, 1] whatever the query length.
    """
    return float(coupling_scores(words, [frames])[0])


def coupling_scores(words: np.ndarray, frames_list: Sequence[np.ndarray]) -> np.ndarray:
    """Exact coupling scores of many candidate clips at once, shape (C,) float32.

    ``frames_list`` holds one (n_c, D) array per candidate (any n_c >= 1, float16 or
    float32). Candidates are concatenated, upcast to float32 and multiplied with the
    words in one matmul per chunk of about ``_CHUNK_FRAMES`` frames, then reduced per
    clip with ``np.maximum.reduceat``: the same numbers as :func:`coupling_score` clip
    by clip. The upcast and matmul run in torch (numpy's float16 cast is ~10x slower).
    """
    weights = torch.from_numpy(np.array(words, dtype=np.float32)).T  # (D, W); a copy: inputs may be read-only
    lengths = np.array([len(f) for f in frames_list], dtype=np.int64)
    if (lengths == 0).any():
        raise ValueError(f"candidate {int(np.argmin(lengths))} has no frame vectors")
    scores = np.empty(len(frames_list), dtype=np.float32)
    first = 0
    while first < len(frames_list):
        last = first + max(1, int(np.searchsorted(np.cumsum(lengths[first:]), _CHUNK_FRAMES, side="right")))
        chunk = torch.from_numpy(np.concatenate(frames_list[first:last], axis=0)).float()
        starts = np.concatenate(([0], np.cumsum(lengths[first : last - 1])))
        best = np.maximum.reduceat((chunk @ weights).numpy(), starts, axis=0)  # (clips in chunk, W)
        scores[first:last] = best.mean(axis=1)
        first = last
    return scores


def fuse(
    pooled: float | np.ndarray, coupling: float | np.ndarray, weight: float = DEFAULT_COUPLING_WEIGHT
) -> float | np.ndarray:
    """Final score ``(1 - weight) * pooled + weight * coupling``.

    ``pooled`` is the cosine of the mean-pooled (normalised) query and clip vectors,
    ``coupling`` the word coupling λ; both lie in [-1, 1] and so does the result.
    ``weight`` = 0 ranks like the official pooled protocol, 1 by coupling alone.
    Works elementwise on arrays.
    """
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"coupling weight must lie in [0, 1], got {weight}")
    return (1.0 - weight) * pooled + weight * coupling


def word_frame_attention(
    words: np.ndarray, frames: np.ndarray, temperature: float = SPOTTING_TEMPERATURE
) -> np.ndarray:
    """Spotting scores (W, n) float32: softmax over the W words of ``cos / temperature``, per frame.

    This is AVS-Spot's attention matrix; inputs must already be L2-normalised
    (:func:`gestsearch.eval.metrics.spotting_attention` normalises first).
    """
    logits = (np.asarray(words, dtype=np.float32) @ np.asarray(frames, dtype=np.float32).T) / np.float32(temperature)
    logits -= logits.max(axis=0, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=0, keepdims=True)


def word_peaks(
    labels: Sequence[str],
    words: np.ndarray,
    frames: np.ndarray,
    temperature: float = SPOTTING_TEMPERATURE,
    clip_start_s: float = 0.0,
    fps: float = 25.0,
) -> list[WordPeak]:
    """Per query word, the clip frame where its gesture peaks.

    ``labels`` are the W query words, ``words`` (W, D) their vectors, ``frames`` (n, D)
    the clip's frame vectors (all normalised). The peak is the argmax over frames of the
    word's spotting score (:func:`word_frame_attention`, as AVS-Spot does); ``strength``
    is that score, ``cosine`` the raw word-frame cosine there. Ties in strength are
    broken by the higher cosine: with a one-word query the softmax over words is
    identically 1, so frames are ranked by cosine alone and every strength is 1.
    ``frame`` counts from the clip's first frame; ``time_s = clip_start_s + frame / fps``
    is in seconds of the source video.
    """
    if len(labels) != len(words):
        raise ValueError(f"{len(labels)} labels for {len(words)} word vectors")
    cosines = np.asarray(words, dtype=np.float32) @ np.asarray(frames, dtype=np.float32).T
    strength = word_frame_attention(words, frames, temperature)
    at_max = strength == strength.max(axis=1, keepdims=True)
    peak_frames = np.where(at_max, cosines, -np.inf).argmax(axis=1)
    return [
        WordPeak(
            word=label,
            frame=int(t),
            time_s=clip_start_s + int(t) / fps,
            strength=float(strength[w, t]),
            cosine=float(cosines[w, t]),
        )
        for w, (label, t) in enumerate(zip(labels, peak_frames))
    ]


def gesture_span(peaks: Sequence[WordPeak], n_frames: int, pad_frames: int = 6) -> tuple[int, int]:
    """Inclusive clip-frame range ``(start, end)`` that holds every query word's peak.

    The range from the first to the last peak is widened by ``pad_frames`` on each side and
    clipped to ``[0, n_frames - 1]``: whatever plays or is cut for a hit shows every peak it
    reports. Without any peak the whole clip is returned.
    """
    if not peaks:
        return 0, n_frames - 1
    frames = [p.frame for p in peaks]
    return max(0, min(frames) - pad_frames), min(n_frames - 1, max(frames) + pad_frames)


def score_map(words: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(W, n) scores of query words over a clip's frames, for heatmaps: the spotting attention
    (:func:`word_frame_attention`); for a one-word query, where that softmax over words is 1 at
    every frame, the word-frame cosine, which shows where the gesture is."""
    if len(words) == 1:
        return np.asarray(words, dtype=np.float32) @ np.asarray(frames, dtype=np.float32).T
    return word_frame_attention(words, frames)


def span_seconds(span: tuple[int, int], clip_start_s: float, fps: float = 25.0) -> tuple[float, float]:
    """Source-video seconds ``(start, end)`` of an inclusive clip-frame span: end = after its last frame."""
    return clip_start_s + span[0] / fps, clip_start_s + (span[1] + 1) / fps
