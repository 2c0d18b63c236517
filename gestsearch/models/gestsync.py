"""GestSync visual encoder (Hegde & Zisserman, BMVC 2023), as used by JEGAL.

Only the visual path is run. The audio branch's parameters are kept (``audio``) so the
official checkpoints load strictly; gestsearch never calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gestsearch.constants import WINDOW_BATCH
from gestsearch.errors import ModelInputError
from gestsearch.models.config import GestSyncConfig
from gestsearch.models.layers import MLP, ConvBlock, SinusoidalPositions

FRAME_SHAPE = (270, 480, 3)
PAD = 12  # edge padding (frames) at each end: window i is centred on frame i
# Black rows at the top of a frame the trunk looks for (VideoTrunk.first_block), largest first:
# the face mask covers 90 to 120 of the 270 rows. A few fixed heights rather than each frame's own,
# as each height is a graph of its own for a compiled backend.
MASK_ROWS = (103, 79)


@dataclass(frozen=True)
class Kernels:
    """The two computations behind per-frame features. GestSync's own modules by default; an
    inference backend (``gestsearch.models.backend``) hands in compiled ones, and the streaming,
    padding and windowing around them stay this file's."""

    steps: Callable[[torch.Tensor], torch.Tensor]  # (1, T, H, W, 3) frames → (1, T − 4, dim) trunk steps
    window_means: Callable[[torch.Tensor], torch.Tensor]  # (N, steps_per_window, dim) → (N, out_dim)


class VideoTrunk(nn.Module):
    """3-D conv net: (B, 3, T, H, W) → (B, C, T − 4). Only block 1 looks across time (5 frames)."""

    def __init__(self, config: GestSyncConfig):
        super().__init__()
        c = (3, *config.channels)

        def block(i: int, kernel, stride=1, padding=0, pool: bool = False) -> ConvBlock:
            return ConvBlock(
                nn.Conv3d(c[i - 1], c[i], kernel, stride, padding),
                nn.BatchNorm3d(c[i]),
                nn.MaxPool3d((1, 3, 3), (1, 2, 2)) if pool else None,
            )

        self.block1 = block(1, (5, 7, 7), (1, 3, 3), pool=True)
        self.block2 = block(2, (1, 5, 5), (1, 2, 2))
        self.block3 = block(3, (1, 3, 3), (1, 2, 2), (0, 1, 1))
        self.block4 = block(4, (1, 3, 3), (1, 1, 2), (0, 1, 1))
        self.block5 = block(5, (1, 3, 3), 1, (0, 1, 1), pool=True)
        self.block6 = block(6, (1, *config.final_kernel))
        self.input_scale = config.input_scale

    @property
    def blocks(self) -> tuple[ConvBlock, ...]:
        return (self.block1, self.block2, self.block3, self.block4, self.block5, self.block6)

    def forward(self, x: torch.Tensor, band: int = 0) -> torch.Tensor:
        """(B, 3, T, H, W) → (B, C, T − 4); ``band``: see :meth:`first_block`."""
        return self.rest(self.first_block(self.partial(x, 0), band), 1)

    def first_block(self, x: torch.Tensor, band: int = 0) -> torch.Tensor:
        """Block 1 with its top ``band`` output rows taken as known: ``x``'s rows 0 to
        :meth:`band_rows` − 1 must be zero (the face mask), so those outputs are the block's response
        to zeros, its bias through BatchNorm and ReLU, and the convolution skips them. Block 1 does
        two thirds of the trunk's multiply-adds and the mask covers a third or more of its rows."""
        if band == 0:
            return self.block1(x)
        conv = self.block1.conv
        rows_per_band = conv.stride[1] * self.block1.pool.stride[1]  # input rows under one output row
        computed = self.block1(x[..., rows_per_band * band :, :])  # (B, C, T', h − band, w)
        zeros = self.block1.relu(self.block1.norm(conv.bias.view(1, -1, 1, 1, 1)))  # (1, C, 1, 1, 1)
        known = zeros.expand(computed.shape[0], -1, computed.shape[2], band, computed.shape[4])
        return torch.cat([known, computed], dim=3)

    def largest_band(self, rows: int) -> int:
        """The largest band whose :meth:`band_rows` fit in ``rows`` black rows."""
        band = 0
        while self.band_rows(band + 1) <= rows:
            band += 1
        return band

    def band_rows(self, band: int) -> int:
        """Frame rows that must be zero for :meth:`first_block` to take ``band`` output rows as known:
        those under output rows 0..band − 1 (pool windows of 3 rows, stride 2, over conv rows of
        7 input rows, stride 3), in the frame's own rows (before the input pooling)."""
        conv, pool = self.block1.conv, self.block1.pool
        last_conv_row = pool.stride[1] * (band - 1) + pool.kernel_size[1] - 1
        return (conv.stride[1] * last_conv_row + conv.kernel_size[1]) * self.input_scale

    def partial(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """(B, 3, T, H, W) → (B, C, T', h, w): the input pooling and the first ``n`` blocks (T' = T − 4 from block 1 on)."""
        if self.input_scale > 1:
            s = self.input_scale
            x = F.avg_pool3d(x, (1, s, s), (1, s, s))
        for block in self.blocks[:n]:
            x = block(x)
        return x

    def rest(self, x: torch.Tensor, n: int) -> torch.Tensor:
        """Output of the first ``n`` blocks → (B, C, T'): the other blocks, then the spatial mean (H = W = 1 after block 6)."""
        for block in self.blocks[n:]:
            x = block(x)
        return x.mean((-2, -1))


class AudioBranch(nn.Module):
    """Parameters of GestSync's audio/sync branch (not used for retrieval)."""

    def __init__(self):
        super().__init__()
        c = (1, 64, 192, 384, 256, 256)
        self.trunk = nn.ModuleDict(
            {f"block{i}": ConvBlock(nn.Conv2d(c[i - 1], c[i], 3), nn.BatchNorm2d(c[i])) for i in range(1, 6)}
        )
        self.trunk["block6"] = ConvBlock(nn.Conv2d(256, 512, (4, 2)), nn.BatchNorm2d(512))
        self.lstm = nn.LSTM(512, 256, batch_first=True, bidirectional=True)
        self.head = nn.ModuleDict(
            {"fc1": nn.Conv2d(512, 512, 1), "norm": nn.BatchNorm2d(512), "fc2": nn.Conv2d(512, 1024, 1)}
        )
        self.logit_scale = nn.Linear(1, 1, bias=False)
        self.sync_fc = nn.Linear(1, 1)


class GestSync(nn.Module):
    def __init__(self, config: GestSyncConfig | None = None):
        super().__init__()
        self.config = config = config or GestSyncConfig()
        self.trunk = VideoTrunk(config)
        self.positions = SinusoidalPositions(config.dim, config.max_positions)
        layer = nn.TransformerEncoderLayer(config.dim, config.heads, config.ffn, dropout=0.1, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.depth, enable_nested_tensor=False)
        self.head = MLP(config.dim, config.dim, config.out_dim)
        self.audio = AudioBranch() if config.audio_branch else None

    @property
    def device(self) -> torch.device:
        return self.head.fc1.weight.device

    # -- the released forward_vid ------------------------------------------------------
    def trunk_steps(self, frames: torch.Tensor, band: int = 0) -> torch.Tensor:
        """(B, T, H, W, 3) frames → (B, T − 4, dim) trunk outputs; ``band``: see :meth:`mask_band`."""
        return self.trunk(frames.permute(0, 4, 1, 2, 3), band).transpose(1, 2)

    def mask_band(self, frames: torch.Tensor) -> int:
        """The band (:meth:`VideoTrunk.first_block`) of the largest of :data:`MASK_ROWS` that is black
        in all of ``frames`` (B, T, H, W, 3), else 0: the trunk then gives the same steps with less work."""
        top = frames[:, :, : max(MASK_ROWS)]
        # (rows,): two passes over the top rows, 2.5x faster than .any() over 103 rows and then 79
        lit = (top.amax(dim=(0, 1, 3, 4)) != 0) | (top.amin(dim=(0, 1, 3, 4)) != 0)
        black = int(lit.int().argmax()) if bool(lit.any()) else top.shape[2]  # black rows from the top
        return next((self.trunk.largest_band(rows) for rows in MASK_ROWS if black >= rows), 0)

    def masked_trunk_steps(self, frames: torch.Tensor) -> torch.Tensor:
        """:meth:`trunk_steps` over the black band the frames have in common."""
        return self.trunk_steps(frames, self.mask_band(frames))

    def encode_windows(self, steps: torch.Tensor) -> torch.Tensor:
        """(N, steps_per_window, dim) trunk outputs of N windows → (N, steps, out_dim)."""
        return self.head(self.transformer(self.positions(steps)))

    def window_means(self, steps: torch.Tensor) -> torch.Tensor:
        """(N, steps_per_window, dim) → (N, out_dim): each window's outputs averaged (its frame's feature)."""
        return self.encode_windows(steps).mean(1)

    @property
    def kernels(self) -> Kernels:
        return Kernels(self.masked_trunk_steps, self.window_means)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, 3, 25, H, W) windows → (B, out_dim, 21), like the released ``forward_vid``."""
        steps = self.trunk(clips).transpose(1, 2)
        return self.encode_windows(steps).transpose(1, 2)

    # -- per-frame features ------------------------------------------------------------
    @torch.no_grad()
    def frame_features(
        self, frames: torch.Tensor, batch_size: int = WINDOW_BATCH, chunk_frames: int = 64, kernels: Kernels | None = None
    ) -> torch.Tensor:
        """(T, 270, 480, 3) masked RGB in [0,1] → (T, out_dim) per-frame features.

        Same numbers as the released procedure (edge-pad 12 frames, one 25-frame window per
        frame, mean of the 21 outputs), but the 3-D trunk runs once over the clip instead of
        25 times per frame; only the transformer runs per window. ``kernels``: see :class:`Kernels`.
        """
        chunks = (frames[i : i + chunk_frames] for i in range(0, len(frames), chunk_frames))
        parts = list(self.stream_features(chunks, batch_size, kernels))
        if not parts:
            return torch.zeros(0, self.config.out_dim)
        return torch.cat(parts)

    @torch.no_grad()
    def stream_features(
        self, chunks: Iterable[torch.Tensor], batch_size: int = WINDOW_BATCH, kernels: Kernels | None = None
    ) -> Iterator[torch.Tensor]:
        """Per-frame features of a clip given as consecutive frame chunks; memory stays bounded.

        Yields (n, out_dim) tensors in frame order; their lengths add up to the number of frames.
        """
        kernels = kernels or self.kernels
        span = self.config.steps_per_window
        pending = torch.zeros(0, self.config.dim, device=self.device)  # trunk steps not yet consumed
        for new in self._stream_trunk(chunks, kernels.steps):
            pending = torch.cat([pending, new])
            n_windows = (len(pending) - span + 1) // batch_size * batch_size  # whole batches only
            if n_windows > 0:
                yield self.window_features(pending[: n_windows + span - 1], batch_size, kernels)
                pending = pending[n_windows:]
        if len(pending) >= span:
            yield self.window_features(pending, batch_size, kernels)

    def window_features(self, steps: torch.Tensor, batch_size: int = WINDOW_BATCH, kernels: Kernels | None = None) -> torch.Tensor:
        """(n + 20, dim) consecutive trunk steps → (n, out_dim): one window per frame, mean of its outputs."""
        window_means = (kernels or self.kernels).window_means
        return torch.cat([window_means(w) for w in self.windows(steps).split(batch_size)])

    def windows(self, steps: torch.Tensor) -> torch.Tensor:
        """(n + 20, dim) consecutive trunk steps → (n, 21, dim): the steps of each frame's window."""
        return steps.unfold(0, self.config.steps_per_window, 1).transpose(1, 2)

    def stream_steps(self, chunks: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Trunk outputs of the edge-padded clip (12 copies of the first and last frame), chunk by chunk.

        A clip of T frames gives T + 20 steps in all; step j sees padded frames j..j+4.
        """
        return self._stream_trunk(chunks, self.trunk_steps)

    def stream_activations(self, chunks: Iterable[torch.Tensor], blocks: int) -> Iterator[torch.Tensor]:
        """Like :meth:`stream_steps`, but each step is the output of the trunk's first ``blocks`` blocks,
        (n, C, h, w); ``trunk.rest(x, blocks)`` finishes them (training caches these and trains the rest)."""
        return self._stream_trunk(chunks, lambda x: self.trunk.partial(x.permute(0, 4, 1, 2, 3), blocks).transpose(1, 2))

    @torch.no_grad()
    def _stream_trunk(self, chunks: Iterable[torch.Tensor], run) -> Iterator[torch.Tensor]:
        """``run`` ((1, n, H, W, 3) frames → (1, n − 4, ...) steps) over the edge-padded clip, chunk by chunk.

        The first 9 steps of the padded clip all see five copies of its first frame, and the last 9
        five copies of its last: each is computed once and repeated (16 fewer trunk steps a clip, a
        sixth of the trunk's work on a 3-second track).
        """
        context = 4  # block 1's temporal kernel spans 5 frames: 4 of context before each step
        repeats = PAD - context
        tail: torch.Tensor | None = None  # the last 4 padded frames before this chunk
        for chunk in chunks:
            chunk = self._check_frames(chunk)
            if len(chunk) == 0:
                continue
            first = tail is None
            if first:
                tail = chunk[:1].expand(context, -1, -1, -1)
            # the steps that straddle the previous chunk, then those inside this one: the chunk is
            # never copied (a copy of 64 frames cost as much as a fifth of the trunk's work)
            steps = run(torch.cat([tail, chunk[:context]])[None])[0]
            if len(chunk) > context:
                steps = torch.cat([steps, run(chunk[None])[0]])
            yield _repeat_first(steps, repeats) if first else steps
            # clones: a view would keep the whole chunk alive
            tail = chunk[-context:].clone() if len(chunk) >= context else torch.cat([tail, chunk])[-context:]
        if tail is not None:  # its last frame is the clip's
            yield _repeat_last(run(torch.cat([tail, tail[-1:].expand(context, -1, -1, -1)])[None])[0], repeats)

    @torch.no_grad()
    def frame_features_per_window(self, frames: torch.Tensor, batch_size: int = 48) -> torch.Tensor:
        """The released procedure verbatim (whole network per 25-frame window). Reference for tests and benchmarks."""
        frames = self._check_frames(frames)
        padded = torch.cat([frames[:1].expand(PAD, -1, -1, -1), frames, frames[-1:].expand(PAD, -1, -1, -1)])
        windows = padded.unfold(0, self.config.window, 1)  # (T, H, W, 3, 25)
        out = []
        for batch in windows.split(batch_size):
            clips = batch.permute(0, 3, 4, 1, 2)  # (B, 3, 25, H, W)
            out.append(self(clips).mean(-1))
        return torch.cat(out)

    def _check_frames(self, frames: torch.Tensor) -> torch.Tensor:
        frames = torch.as_tensor(frames)
        if frames.ndim != 4 or tuple(frames.shape[1:]) != FRAME_SHAPE:
            raise ModelInputError(f"frames must be (T, 270, 480, 3) RGB in [0,1], got {tuple(frames.shape)}")
        return frames.to(self.device, torch.float32)


def _repeat_first(steps: torch.Tensor, n: int) -> torch.Tensor:
    """``steps`` with its first row repeated ``n`` more times in front."""
    return torch.cat([steps[:1].expand(n, *steps.shape[1:]), steps])


def _repeat_last(steps: torch.Tensor, n: int) -> torch.Tensor:
    """``steps`` with its last row repeated ``n`` more times at the end."""
    return torch.cat([steps, steps[-1:].expand(n, *steps.shape[1:])])
