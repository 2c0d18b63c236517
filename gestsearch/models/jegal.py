"""JEGAL: joint embedding of gestures, audio and language (Hegde et al., ICCV 2025).

Gesture path:  GestSync features (T, 1024) → projection → positions → 6-layer encoder → linear
               → alignment head → (T, 512).
Content path:  text (XLM-R subwords → 3-layer encoder → 256, averaged per word) and/or speech
               (log-mel → CNN → 256 per 25 fps frame, averaged per word), concatenated
               [audio, text] with zeros for a missing half → fusion head → alignment head → (W, 512).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from gestsearch.errors import ModelInputError
from gestsearch.models.config import JegalConfig
from gestsearch.models.layers import MLP, ConvBlock, PreNormEncoder, SinusoidalPositions
from gestsearch.models.subwords import check_words
from gestsearch.models.text import TextBackbone

WordBoundary = Sequence  # [word, start_frame, end_frame], 25 fps, inclusive


def span_means(x: torch.Tensor, spans: Sequence[Sequence[tuple[int, int]]]) -> torch.Tensor:
    """Means of ``x[b, a:e]`` (x: (B, N, D)) for each ``(a, e)`` in ``spans[b]`` → (B, W_max, D).

    Rows past ``len(spans[b])`` are zero. One batched product, so gradients flow to ``x``.
    """
    weights = torch.zeros(len(spans), max(len(s) for s in spans), x.shape[1], dtype=x.dtype, device=x.device)
    for b, phrase in enumerate(spans):
        for w, (start, end) in enumerate(phrase):
            weights[b, w, start:end] = 1.0 / (end - start)
    return weights @ x


class GestureInput(nn.Module):
    """Linear → LayerNorm → ReLU → Linear."""

    def __init__(self, dim_in: int, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim_in, dim)
        self.norm = nn.LayerNorm(dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.norm(self.fc1(x))))


class GestureEncoder(nn.Module):
    def __init__(self, config: JegalConfig):
        super().__init__()
        self.input = GestureInput(config.feature_dim, config.dim)
        self.positions = SinusoidalPositions(config.dim, config.max_frames)
        self.encoder = PreNormEncoder(config.dim, config.depth, config.heads, config.ffn)
        self.output = nn.Linear(config.dim, config.dim)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, feature_dim), mask (B, T) → (B, T, dim)."""
        return self.output(self.encoder(self.positions(self.input(features)), mask))


class TextEncoder(nn.Module):
    def __init__(self, config: JegalConfig):
        super().__init__()
        t = config.text
        self.encoder = PreNormEncoder(t.dim, t.depth, t.heads, t.ffn)
        self.output = nn.Linear(t.dim, config.word_dim)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, text.dim) backbone states → (B, L, word_dim)."""
        return self.output(self.encoder(hidden, mask))


class SpeechEncoder(nn.Module):
    """2-D CNN over (time, mel): 4 mel frames (10 ms each) → one vector per 25 fps frame."""

    def __init__(self, config: JegalConfig):
        super().__init__()
        c = (1, *config.speech_channels)
        specs = [(5, 1, 2), (3, 2, 1), (3, 2, 1), (3, (1, 3), 1), (3, (1, 3), 1)]  # kernel, stride, padding
        blocks = [ConvBlock(nn.Conv2d(c[i], c[i + 1], k, s, p), nn.BatchNorm2d(c[i + 1])) for i, (k, s, p) in enumerate(specs)]
        self.cnn = nn.Sequential(*blocks, nn.Conv2d(c[5], c[6], 1, (1, 3)))
        self.output = nn.Linear(c[6], config.word_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, T', 80) log-mel → (B, ceil(T'/4), word_dim)."""
        x = self.cnn(mel[:, None])  # (B, C, ceil(T'/4), 1)
        return self.output(x.squeeze(-1).transpose(1, 2))


class JEGAL(nn.Module):
    def __init__(self, config: JegalConfig | None = None, text_backbone: TextBackbone | str | None = None):
        super().__init__()
        self.config = config = config or JegalConfig()
        self.gesture = GestureEncoder(config)
        self.text = TextEncoder(config)
        self.speech = SpeechEncoder(config)
        self.fusion = MLP(2 * config.word_dim, config.dim, config.dim)
        self.gesture_align = MLP(config.dim, config.dim, config.dim)
        self.content_align = MLP(config.dim, config.dim, config.dim)
        self.text_backbone = text_backbone  # frozen; not part of the state dict; a name loads on first use

    def __setattr__(self, name, value):
        if name == "text_backbone":  # keep the backbone out of the module tree and the state dict
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def device(self) -> torch.device:
        return self.fusion.fc1.weight.device

    # -- gestures ----------------------------------------------------------------------
    def forward_gestures(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, feature_dim) → (B, T, dim); T at most ``max_frames``."""
        return self.gesture_align(self.gesture(features, mask))

    @torch.no_grad()
    def embed_gestures(self, features: torch.Tensor, overlap: int = 100) -> torch.Tensor:
        """(T, feature_dim) → (T, dim), not normalised. See ``stream_gestures`` for long tracks."""
        features = torch.as_tensor(features, dtype=torch.float32)
        parts = list(self.stream_gestures([features], overlap))
        return torch.cat(parts) if parts else torch.zeros(0, self.config.dim, device=self.device)

    @torch.no_grad()
    def stream_gestures(self, chunks: Iterable[torch.Tensor], overlap: int = 100) -> Iterator[torch.Tensor]:
        """Gesture embeddings of a track given as consecutive (n, feature_dim) chunks, in order.

        The position table covers ``max_frames`` (500) steps. A longer track is cut into
        500-frame windows starting every 500 − ``overlap`` frames; each window hands out its
        frames up to ``overlap / 2`` before its end, and a last window aligned with the end of
        the track covers the rest. So every frame past the first 50 sees at least 50 frames of
        context on each side (at the track's end, all there is). Memory stays bounded.
        """
        size, hop, margin = self.config.max_frames, self.config.max_frames - overlap, overlap // 2
        buf = torch.zeros(0, self.config.feature_dim, device=self.device)
        buf_start = emitted = next_start = 0  # global frame indices
        for chunk in chunks:
            chunk = torch.as_tensor(chunk, dtype=torch.float32, device=self.device)
            if chunk.ndim != 2 or chunk.shape[1] != self.config.feature_dim:
                raise ModelInputError(f"gesture features must be (T, {self.config.feature_dim}), got {tuple(chunk.shape)}")
            buf = torch.cat([buf, chunk])
            while buf_start + len(buf) > next_start + size:  # the window is not the track's last one
                local = next_start - buf_start
                out = self.forward_gestures(buf[None, local : local + size])[0]
                end = next_start + size - margin
                yield out[emitted - next_start : end - next_start]
                emitted = end
                buf, buf_start = buf[local:], next_start  # keep: the last window may reach back here
                next_start += hop
        total = buf_start + len(buf)
        if total > emitted:
            start = max(0, total - size)
            out = self.forward_gestures(buf[None, start - buf_start :])[0]
            yield out[emitted - start :]

    # -- content -----------------------------------------------------------------------
    def backbone(self) -> TextBackbone:
        """The text backbone, loaded on first use when it was given by name."""
        if self.text_backbone is None:
            raise ModelInputError("no text backbone attached (load_jegal(..., text_backbone=...))")
        if not isinstance(self.text_backbone, TextBackbone):
            self.text_backbone = TextBackbone.load(self.text_backbone, self.device)
        return self.text_backbone

    def text_words(self, words: list[str]) -> torch.Tensor:
        """Words of one phrase → (W, word_dim): subword vectors averaged per word
        (:meth:`~gestsearch.models.subwords.TokenBatch.word_spans` says which)."""
        return self.text_words_batch([words])[0]

    def text_words_batch(self, phrases: list[list[str]]) -> torch.Tensor:
        """Phrases → (B, W_max, word_dim), each phrase as :meth:`text_words` embeds it alone
        (padding never reaches a word); rows past a phrase's length are zero. Differentiable."""
        sub = self.backbone().encode(phrases)
        hidden = self.text(sub.hidden, sub.mask)  # (B, L, word_dim)
        return span_means(hidden, sub.tokens.word_spans(phrases))

    def speech_words(self, mel: torch.Tensor, boundaries: Sequence[WordBoundary]) -> torch.Tensor:
        """(T', 80) log-mel + word boundaries → (W, word_dim).

        As released, the mel is taken to start at the first word's start frame: word i averages
        audio vectors start_i − offset … end_i − offset (inclusive, clipped at the end),
        offset = start of the first word. Callers pass audio cut at the first word.
        """
        return self.speech_words_batch(mel[None], [boundaries])[0]

    def speech_words_batch(
        self, mels: torch.Tensor, boundaries: Sequence[Sequence[WordBoundary]], lengths: Sequence[int] | None = None
    ) -> torch.Tensor:
        """(B, T', 80) log-mels padded at the end, each ``lengths[b]`` frames long (default: all T'),
        + each phrase's word boundaries → (B, W_max, word_dim), rows past a phrase's length zero.
        Differentiable; the word rule is :meth:`speech_words`'."""
        frames = self.speech(mels)  # (B, ceil(T'/4), word_dim)
        lengths = lengths if lengths is not None else [mels.shape[1]] * len(mels)
        spans = []
        for phrase, n_mel in zip(boundaries, lengths):
            n, offset = -(-int(n_mel) // 4), int(phrase[0][1])
            spans.append([(int(start) - offset, min(int(end) - offset + 1, n)) for _, start, end in phrase])
            for (word, start, end), (a, b) in zip(phrase, spans[-1]):
                if b <= a:
                    raise ModelInputError(f"word {word!r} ({start}-{end}) lies outside the audio ({n} frames)")
        return span_means(frames, spans)

    def fuse(self, audio_words: torch.Tensor | None, text_words: torch.Tensor | None) -> torch.Tensor:
        """(W, word_dim) halves (either may be None) → (W, dim) content embeddings."""
        present = audio_words if audio_words is not None else text_words
        if present is None:
            raise ModelInputError("content needs words (text) and/or mel + word boundaries (audio)")
        zeros = torch.zeros_like(present)
        both = torch.cat([audio_words if audio_words is not None else zeros, text_words if text_words is not None else zeros], -1)
        return self.content_align(self.fusion(both))

    @torch.no_grad()
    def embed_content(
        self,
        words: list[str] | None = None,
        mel: torch.Tensor | None = None,
        word_boundaries: Sequence[WordBoundary] | None = None,
    ) -> torch.Tensor:
        """Word-level content embeddings (W, dim), not normalised.

        - text only: ``words``
        - audio only: ``mel`` (T', 80) and ``word_boundaries`` [[word, start, end], ...] at 25 fps
        - text + audio: all three; ``words`` must match the boundaries one to one.
        Each phrase is embedded alone, so the result does not depend on other phrases.
        """
        if (mel is None) != (word_boundaries is None):
            raise ModelInputError("audio content needs both mel and word_boundaries")
        if words is not None:
            check_words(words)
            if word_boundaries is not None and len(words) != len(word_boundaries):
                raise ModelInputError(f"{len(words)} words but {len(word_boundaries)} word boundaries")
        audio = text = None
        if mel is not None:
            if not word_boundaries:
                raise ModelInputError("word_boundaries is empty")
            mel = torch.as_tensor(mel, dtype=torch.float32, device=self.device)
            if mel.ndim != 2 or mel.shape[1] != 80:
                raise ModelInputError(f"mel must be (T', 80), got {tuple(mel.shape)}")
            audio = self.speech_words(mel, word_boundaries)
        if words is not None:
            text = self.text_words(words)
        return self.fuse(audio, text)
