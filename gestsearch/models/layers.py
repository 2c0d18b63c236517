"""Building blocks shared by the GestSync and JEGAL networks."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn


class ConvBlock(nn.Sequential):
    """Conv → BatchNorm → ReLU (→ MaxPool). Works for 2-D and 3-D convolutions."""

    def __init__(self, conv: nn.Module, norm: nn.Module, pool: nn.Module | None = None):
        layers = OrderedDict(conv=conv, norm=norm, relu=nn.ReLU())
        if pool is not None:
            layers["pool"] = pool
        super().__init__(layers)


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """(1, length, dim) table: column 2i = sin(p·w_i), column 2i+1 = cos(p·w_i), w_i = 10000^(-2i/dim)."""
    freqs = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    angles = torch.arange(0, length).unsqueeze(1) * freqs
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.unsqueeze(0)


class SinusoidalPositions(nn.Module):
    """Adds a fixed sinusoidal position table (a persistent buffer, stored in checkpoints)."""

    def __init__(self, dim: int, max_len: int):
        super().__init__()
        self.register_buffer("table", sinusoid_table(max_len, dim))

    @property
    def max_len(self) -> int:
        return self.table.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, L, D)
        if x.shape[1] > self.max_len:
            raise ValueError(f"sequence of {x.shape[1]} steps exceeds the position table ({self.max_len})")
        return x + self.table[:, : x.shape[1]]


class StdLayerNorm(nn.Module):
    """JEGAL's layer norm: gain · (x − mean) / (unbiased std + eps) + shift (eps added to the std)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(dim))
        self.shift = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        std = x.std(-1, keepdim=True)
        return self.gain * (x - mean) / (std + self.eps) + self.shift


class MultiHeadAttention(nn.Module):
    """Self-attention with separate Q/K/V/output projections and an optional key mask."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        assert dim % heads == 0
        self.heads = heads
        self.head_dim = dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, D); key_mask (B, L) with 1 for real steps, 0 for padding (padded queries are still computed)."""
        b, n, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, H, L, d)
            return t.view(b, n, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, L, L)
        if key_mask is not None:
            scores = scores.float().masked_fill(key_mask[:, None, None, :] == 0, -1e9)
        weights = scores.softmax(dim=-1)
        context = (weights @ v).transpose(1, 2).reshape(b, n, -1)
        return self.out(context)


class PreNormBlock(nn.Module):
    """x + Attn(LN(x)), then x + FFN(LN(x)); dropout 0.1 in training."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.attn_norm = StdLayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads)
        self.ffn_norm = StdLayerNorm(dim)
        self.ffn = MLP(dim, hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.attn_norm(x), key_mask))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class PreNormEncoder(nn.Module):
    """A stack of pre-norm blocks followed by a final layer norm."""

    def __init__(self, dim: int, depth: int, heads: int, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.blocks = nn.ModuleList(PreNormBlock(dim, heads, hidden, dropout) for _ in range(depth))
        self.norm = StdLayerNorm(dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, key_mask)
        return self.norm(x)


class MLP(nn.Module):
    """Linear → ReLU → Linear (transformer feed-forwards, JEGAL's fusion/alignment heads, GestSync's head)."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int):
        super().__init__()
        self.fc1 = nn.Linear(dim_in, hidden)
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))
