"""AVS-Ret retrieval metrics, AVS-Spot word spotting and AVS-Asd, as in JEGAL's evaluation code.

Retrieval (``evaluation/evaluate_retrieval.py``): each clip's embeddings are mean-pooled
over time, the N×N cosine matrix has queries as rows and the true pair on the diagonal;
the 0-based rank of the diagonal gives R@K (share of ranks < K) and MR = median rank + 1.

Spotting (``evaluation/evaluate_spotting.py``): softmax over a clip's words of the
frame-word cosines / 0.07; the target word's row peaks at some frame, correct when
that frame is within the word's boundary ± 9 frames and the peak score is ≥ 0.5.

Active speaker detection (``evaluation/evaluate_asd.py``): the candidates are the clip's own
track followed by other speakers' tracks; correct when the own track scores highest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gestsearch.constants import SPOT_FRAME_MARGIN, SPOT_THRESHOLD, SPOTTING_TEMPERATURE
from gestsearch.errors import EvalError
from gestsearch.scoring import word_frame_attention
from gestsearch.vectors import l2_normalize

RETRIEVAL_KS = (1, 5, 10, 25, 50)
OFFICIAL_KS = (5, 10, 25, 50)  # the paper's report: [R5, R10, R25, R50, MR]
TIES = ("pessimistic", "optimistic")


def mean_pool(sequences: Sequence[np.ndarray]) -> np.ndarray:
    """One vector per clip: the mean over time of each (T_i, D) array -> (N, D) float32."""
    return np.stack([np.asarray(s, dtype=np.float32).mean(axis=0) for s in sequences])


def similarity_matrix(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Cosine similarities (N, M) float32 of L2-normalised queries (N, D) and gallery (M, D); rows = queries."""
    return l2_normalize(queries) @ l2_normalize(gallery).T


def retrieval_ranks(sim: np.ndarray, ties: str = "pessimistic") -> np.ndarray:
    """0-based rank (N,) int64 of the true item (the diagonal) in each row sorted by decreasing similarity.

    The rank counts the items scoring strictly higher than the true one; items scoring
    exactly the same count too with ``ties="pessimistic"`` (the default: a model that
    gives every item the same score ranks the truth last) and not with
    ``"optimistic"``. Without exact ties both equal the official rank; the official
    code finds the diagonal by value equality instead and so may return several ranks
    for one row.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    sim = np.asarray(sim)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"expected a square similarity matrix, got shape {sim.shape}")
    diagonal = np.diagonal(sim)[:, None]
    higher = (sim > diagonal).sum(axis=1)
    if ties == "optimistic":
        return higher.astype(np.int64)
    return (higher + (sim == diagonal).sum(axis=1) - 1).astype(np.int64)


def retrieval_metrics(
    ranks: np.ndarray, ks: Sequence[int] = RETRIEVAL_KS, percent: bool = True
) -> dict[str, float]:
    """``{"R@k": share of 0-based ranks < k for each k, "MR": median rank + 1}``.

    R@K is in percent (the paper's tables) or, with ``percent=False``, a fraction
    (what the released ``compute_metrics`` returns).
    """
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise EvalError("no queries to evaluate")
    scale = 100.0 if percent else 1.0
    metrics = {f"R@{k}": scale * int((ranks < k).sum()) / ranks.size for k in ks}
    metrics["MR"] = float(np.median(ranks)) + 1.0
    return metrics


def official_report(ranks: np.ndarray) -> np.ndarray:
    """The released ``compute_metrics`` output ``[R5, R10, R25, R50, MR]``, R@K as fractions."""
    metrics = retrieval_metrics(ranks, OFFICIAL_KS, percent=False)
    return np.array([metrics[f"R@{k}"] for k in OFFICIAL_KS] + [metrics["MR"]], dtype=np.float64)


def asd_correct(scores: np.ndarray, ties: str = "pessimistic") -> bool:
    """Whether the own track (``scores[0]``) ranks first among the candidates' scores (P,).

    The released script takes ``argmax == 0``, so an exact tie with a negative counts as
    correct there (numpy returns the first maximum): that is ``ties="optimistic"``. The
    default counts it as wrong, as :func:`retrieval_ranks` does, so that a model scoring
    every candidate alike gets no credit. Without exact ties both agree with the official code.
    """
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {ties!r}")
    scores = np.asarray(scores)
    if scores.ndim != 1 or len(scores) < 2:
        raise ValueError(f"expected the scores of at least 2 candidates, got shape {scores.shape}")
    best_negative = scores[1:].max()
    return bool(scores[0] > best_negative or (ties == "optimistic" and scores[0] == best_negative))


def spotting_attention(
    gesture: np.ndarray, content: np.ndarray, temperature: float = SPOTTING_TEMPERATURE
) -> np.ndarray:
    """AVS-Spot attention (W, T) float32 of gesture (T, D) and content (W, D) embeddings.

    Both are L2-normalised here; each column (frame) is a softmax over the W words.
    """
    return word_frame_attention(l2_normalize(content), l2_normalize(gesture), temperature)


def spot_peak(attn_row: np.ndarray) -> tuple[int, float]:
    """``(frame, score)`` of a word's attention row (T,): its first argmax and the value there."""
    frame = int(np.argmax(attn_row))
    return frame, float(attn_row[frame])


def spotting_correct(
    attn_row: np.ndarray, boundary: tuple[int, int], frame_margin: int = SPOT_FRAME_MARGIN, threshold: float = SPOT_THRESHOLD
) -> bool:
    """Whether the row's peak lies in ``[max(0, start - margin), end + margin]`` with score ≥ threshold.

    ``boundary`` is the target word's inclusive ``(start_frame, end_frame)`` at 25 fps.
    """
    frame, score = spot_peak(attn_row)
    start, end = boundary
    return max(0, start - frame_margin) <= frame <= end + frame_margin and score >= threshold


def spotting_accuracy(
    attentions: Sequence[np.ndarray],
    targets: Sequence[int],
    boundaries: Sequence[tuple[int, int]],
    frame_margin: int = SPOT_FRAME_MARGIN,
    threshold: float = SPOT_THRESHOLD,
) -> float:
    """Percent of clips whose target word is spotted (:func:`spotting_correct`).

    ``attentions[i]`` is clip i's (W, T) matrix, ``targets[i]`` the target word's row
    in it and ``boundaries[i]`` its inclusive frame boundary.
    """
    if not attentions:
        raise EvalError("no clips to evaluate")
    if not len(attentions) == len(targets) == len(boundaries):
        raise ValueError("attentions, targets and boundaries differ in length")
    correct = sum(
        spotting_correct(attn[target], boundary, frame_margin, threshold)
        for attn, target, boundary in zip(attentions, targets, boundaries)
    )
    return 100.0 * correct / len(attentions)
