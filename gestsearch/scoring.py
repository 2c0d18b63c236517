"""Stage-2 scoring of ``gestsearch search``: word coupling, fusion and word peaks.

Pure functions on numpy arrays. Word vectors ``(W, D)`` are the query's content
embeddings, frame vectors ``(n, D)`` a clip's per-frame gesture embeddings (one per
25 fps frame). Both are expected L2-normalised, as the store keeps them, so a dot
product is a cosine; float16 inputs are upcast to float32 before any arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gestsearch.constants import SPOTTING_TEMPERATURE
from gestsearch.errors import ConfigError
from gestsearch.results import WordPeak
from gestsearch.store.records import PackedFrames

DEFAULT_COUPLING_WEIGHT = 0.5  # chosen on held-out evaluation data: see docs/scoring.md
_BLOCK_FRAMES = 256  # frame vectors converted to float32 at a time (512 KB)


def coupling_score(words: np.ndarray, frames: np.ndarray) -> float:
    """JEGAL word coupling λ of one clip: mean over query words of the best cosine over frames.

    ``words`` (W, D) and ``frames`` (n, D), both L2-normalised. λ is ColBERT's MaxSim
    divided by W, so it lies in [-1, 1] whatever the query length.
    """
    return float(coupling_scores(words, [frames])[0])


def coupling_scores(words: np.ndarray, frames: PackedFrames | Sequence[np.ndarray]) -> np.ndarray:
    """Exact coupling scores of many candidate clips at once, shape (C,) float32.

    ``frames``: the candidates' frame vectors as the store reads them (:class:`PackedFrames`,
    int8 or float16), or one (n_c, D) array per candidate (any n_c >= 1). The same numbers as
    :func:`coupling_score` clip by clip.
    """
    packed = frames if isinstance(frames, PackedFrames) else PackedFrames.of(frames)
    if (packed.lengths == 0).any():
        raise ValueError(f"candidate {int(np.argmin(packed.lengths))} has no frame vectors")
    if not len(packed.lengths):
        return np.empty(0, dtype=np.float32)
    best = np.maximum.reduceat(frame_similarities(words, packed), packed.starts, axis=1)  # (W, C)
    return best.mean(axis=0)


def frame_similarities(words: np.ndarray, frames: PackedFrames) -> np.ndarray:
    """Cosine of every word with every frame vector, (W, F) float32.

    The codes are converted to float32 ``_BLOCK_FRAMES`` at a time into one reused block that
    stays in cache: converting all of them at once allocates F × 512 float32 per query, and the
    page faults of that allocation cost more than the arithmetic. numpy's BLAS, not torch's: the
    same speed or better for these shapes (15 µs against 36 µs for 4 words × 256 frames on this
    machine kind), and a text query then runs without importing torch.
    """
    weights = np.array(words, dtype=np.float32)  # (W, D); a copy: inputs may be read-only
    codes = frames.codes
    out = np.empty((len(weights), len(codes)), dtype=np.float32)
    block = np.empty((min(_BLOCK_FRAMES, len(codes)), codes.shape[1]), dtype=np.float32)
    for first in range(0, len(codes), _BLOCK_FRAMES):
        n = min(_BLOCK_FRAMES, len(codes) - first)
        np.copyto(block[:n], codes[first : first + n], casting="unsafe")
        np.matmul(weights, block[:n].T, out=out[:, first : first + n])
    if frames.scales is not None:
        out *= frames.scales[None, :]
    return out


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
