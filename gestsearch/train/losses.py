"""JEGAL's training objective: phrase-level and word-coupling contrastive losses.

For a batch of B clips, gesture embeddings ``(B, T, D)`` with a frame mask ``(B, T)`` and
content embeddings ``(B, W, D)`` with a word mask ``(B, W)`` (1 = real, 0 = padding):

- ``L_seq``: symmetric InfoNCE over the B×B cosine matrix of the clips' pooled vectors. A
  clip's pooled vector is the mean of its L2-normalised valid rows, L2-normalised again:
  exactly the clip vector of the retrieval protocol (``gestsearch.eval.metrics``).
- ``L_couple``: symmetric InfoNCE over the B×B word-coupling scores
  ``λ(i, j) = mean over the valid words w of content i of max over the valid frames t of
  gesture j of cos(c_iw, g_jt)``.
- ``loss = β·L_seq + (1 − β)·L_couple + γ·L_word``.
- ``L_word`` (not in the paper; γ = 0 by default, the tiny preset uses it): inside each positive
  pair, for every valid word w, the frame t*(w) where w matches best (the frame its coupling term
  picks), and the cross-entropy of the softmax over the clip's words at t*(w), at the spotting
  protocol's temperature 0.07, with w as the target. It is minus the log of exactly the score
  AVS-Spot thresholds at 0.5, so it asks each word to dominate its clip's other words where it
  peaks; the two paper losses only compare a clip with other clips, and on a small vocabulary
  they are met as well by phrase-level vectors that give every word of a clip the same score.
  No labels or timings are used: the frame is the model's own choice.

Temperature: each loss divides its similarities by its own temperature. By default it is
learnt as a CLIP-style log logit scale, initialised at 1/0.07 and clamped to [1, 100]
(temperature 1 … 0.01); ``learnable=False`` keeps it fixed at the initial value.

Modality dropout (the paper's): per clip, with probability p, zero either the text half or
the audio half of the fused content input, each chosen with probability 1/2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gestsearch.constants import SPOTTING_TEMPERATURE

MAX_LOGIT_SCALE = 100.0


def pooled(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, N, D) vectors, (B, N) mask → (B, D): unit mean of the unit valid rows."""
    weights = mask.to(x.dtype)[..., None]
    total = (F.normalize(x, dim=-1) * weights).sum(1)
    return F.normalize(total / weights.sum(1).clamp_min(1), dim=-1)


def coupling_scores(
    content: torch.Tensor, content_mask: torch.Tensor, gesture: torch.Tensor, gesture_mask: torch.Tensor
) -> torch.Tensor:
    """(B, B) word-coupling scores λ(content i, gesture j): mean over i's valid words of the best
    cosine over j's valid frames."""
    c, g = F.normalize(content, dim=-1), F.normalize(gesture, dim=-1)
    cos = torch.einsum("iwd,jtd->ijwt", c, g)  # (B_content, B_gesture, W, T)
    best = cos.masked_fill(gesture_mask[None, :, None, :] == 0, -2.0).amax(-1)  # (B, B, W)
    words = content_mask.to(best.dtype)[:, None, :]
    return (best * words).sum(-1) / words.sum(-1).clamp_min(1)


def word_contrast(
    content: torch.Tensor, content_mask: torch.Tensor, gesture: torch.Tensor, gesture_mask: torch.Tensor,
    temperature: float = SPOTTING_TEMPERATURE,
) -> torch.Tensor:
    """``L_word`` over the B positive pairs (content b, gesture b): mean over valid words w of
    −log softmax over b's valid words v of cos(c_bv, g_bt*)/temperature, at v = w, t* = argmax_t cos(c_bw, g_bt)."""
    c, g = F.normalize(content, dim=-1), F.normalize(gesture, dim=-1)
    cos = torch.einsum("bwd,btd->bwt", c, g)  # (B, W, T)
    best = cos.masked_fill(gesture_mask[:, None, :] == 0, -2.0).argmax(-1)  # (B, W): t*(w)
    at_best = cos.gather(2, best[:, None, :].expand(-1, cos.shape[1], -1)).transpose(1, 2)  # (B, w, v): cos(c_v, g_t*(w))
    logits = (at_best / temperature).masked_fill(content_mask[:, None, :] == 0, float("-inf"))
    words = torch.arange(cos.shape[1], device=cos.device).expand(len(cos), -1)
    valid = content_mask.to(cos.dtype)
    logits = logits.masked_fill(valid[..., None] == 0, 0.0)  # padding anchors: finite rows, weight 0 below
    losses = F.cross_entropy(logits.flatten(0, 1), words.flatten(), reduction="none").view_as(valid)
    return (losses * valid).sum() / valid.sum().clamp_min(1)


def symmetric_info_nce(similarity: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Mean of the row-wise (content → gesture) and column-wise cross-entropies; pairs on the diagonal."""
    logits = similarity * logit_scale
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class LogitScale(nn.Module):
    """1 / temperature, learnt as a clamped log (CLIP) or fixed."""

    def __init__(self, temperature: float = 0.07, learnable: bool = True):
        super().__init__()
        value = torch.tensor(math.log(1 / temperature))
        if learnable:
            self.log_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_scale", value)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(0.0, math.log(MAX_LOGIT_SCALE)).exp()


@dataclass
class LossParts:
    total: torch.Tensor
    seq: torch.Tensor
    couple: torch.Tensor
    word: torch.Tensor  # L_word (computed only when its weight is not 0; else 0)


class JegalLoss(nn.Module):
    """β·L_seq + (1 − β)·L_couple + γ·L_word; the first two with their own temperature (see the module docstring)."""

    def __init__(self, beta: float = 0.5, temperature: float = 0.07, learn_temperature: bool = True, word_weight: float = 0.0):
        super().__init__()
        self.beta, self.word_weight = beta, word_weight
        self.seq_scale = LogitScale(temperature, learn_temperature)
        self.couple_scale = LogitScale(temperature, learn_temperature)

    def forward(
        self, gesture: torch.Tensor, gesture_mask: torch.Tensor, content: torch.Tensor, content_mask: torch.Tensor
    ) -> LossParts:
        """gesture (B, T, D) + mask (B, T), content (B, W, D) + mask (B, W); clip i of both is a pair."""
        seq_sim = pooled(content, content_mask) @ pooled(gesture, gesture_mask).T
        seq = symmetric_info_nce(seq_sim, self.seq_scale())
        couple = symmetric_info_nce(coupling_scores(content, content_mask, gesture, gesture_mask), self.couple_scale())
        total = self.beta * seq + (1 - self.beta) * couple
        word = torch.zeros_like(total)
        if self.word_weight:
            word = word_contrast(content, content_mask, gesture, gesture_mask)
            total = total + self.word_weight * word
        return LossParts(total, seq, couple, word)


@dataclass
class ModalityKeep:
    """Per clip (B,) 0/1 factors for the audio and the text half of the content input."""

    audio: torch.Tensor
    text: torch.Tensor


def modality_dropout(n: int, probability: float, generator: torch.Generator) -> ModalityKeep:
    """For each of ``n`` clips: with ``probability``, drop the text or the audio half (1/2 each)."""
    dropped = torch.rand(n, generator=generator) < probability
    drop_text = torch.rand(n, generator=generator) < 0.5
    return ModalityKeep(audio=(~(dropped & ~drop_text)).float(), text=(~(dropped & drop_text)).float())
