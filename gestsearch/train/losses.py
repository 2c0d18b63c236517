"""JEGAL's training objective: phrase-level and word-coupling contrastive losses.

For a batch of B clips, gesture embeddings ``(B, T, D)`` with a frame mask ``(B, T)`` and
content embeddings ``(B, W, D)`` with a word mask ``(B, W)`` (1 = real, 0 = padding):

- ``L_seq``: symmetric InfoNCE over the B×B cosine matrix of the clips' pooled vectors. A
  clip's pooled vector is the mean of its L2-normalised valid rows, L2-normalised again:
  exactly the clip vector of the retrieval protocol (``gestsearch.eval.metrics``).
- ``L_couple``: symmetric InfoNCE over the B×B word-coupling scores
  ``λ(i, j) = mean over the valid words w of content i of max over the valid frames t of
  gesture j of cos(c_iw, g_jt)``.
- ``loss = β·L_seq + (1 − β)·L_couple``.

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


class JegalLoss(nn.Module):
    """β·L_seq + (1 − β)·L_couple, each with its own temperature (see the module docstring)."""

    def __init__(self, beta: float = 0.5, temperature: float = 0.07, learn_temperature: bool = True):
        super().__init__()
        self.beta = beta
        self.seq_scale = LogitScale(temperature, learn_temperature)
        self.couple_scale = LogitScale(temperature, learn_temperature)

    def forward(
        self, gesture: torch.Tensor, gesture_mask: torch.Tensor, content: torch.Tensor, content_mask: torch.Tensor
    ) -> LossParts:
        """gesture (B, T, D) + mask (B, T), content (B, W, D) + mask (B, W); clip i of both is a pair."""
        seq_sim = pooled(content, content_mask) @ pooled(gesture, gesture_mask).T
        seq = symmetric_info_nce(seq_sim, self.seq_scale())
        couple = symmetric_info_nce(coupling_scores(content, content_mask, gesture, gesture_mask), self.couple_scale())
        return LossParts(self.beta * seq + (1 - self.beta) * couple, seq, couple)


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
