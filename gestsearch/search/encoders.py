"""What queries are encoded with, loading no more than a query needs.

On the CPU a text query runs JEGAL's text path in numpy (``gestsearch.models.numpy_text``):
importing torch alone takes about 2 s and 450 MB of resident memory, more than the rest of a text
query's process (benchmarks/README.md, "Cold CLI search" and "Warm search at 1M clips"). Speech and
gesture queries need the speech CNN or GestSync, which run on torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from gestsearch.config import Settings
from gestsearch.search.engine import QueryEncoder
from gestsearch.types import ContentModalities

if TYPE_CHECKING:
    from gestsearch.models.identity import ModelInfo
    from gestsearch.models.subwords import SubwordTokenizer


def query_encoder_for(settings: Settings) -> QueryEncoder:
    """What a text (or gesture-id) query needs of the models ``settings`` name: on the CPU, the
    numpy text encoder; on a GPU, or for checkpoints it does not read, the torch ``Embedder``
    with GestSync left unloaded."""
    from gestsearch.models.checkpoint import UnsupportedCheckpoint
    from gestsearch.models.numpy_text import NumpyTextEncoder

    if settings.cpu_only():
        try:
            return NumpyTextEncoder.from_settings(settings)
        except UnsupportedCheckpoint:
            pass
    return torch_encoder(settings)


def torch_encoder(settings: Settings) -> QueryEncoder:
    """The torch ``Embedder`` of the models ``settings`` name, GestSync loaded on first use."""
    from gestsearch.embedding import Embedder

    return Embedder.from_settings(settings, gestsync_now=False)


class ResidentEncoder:
    """A resident server's query models: text queries by :func:`query_encoder_for`'s encoder, speech
    and gesture queries by the torch ``Embedder``, loaded on the first of them (a server that only
    answers text never imports torch). Not locked: the server runs one query at a time."""

    def __init__(self, settings: Settings):
        from gestsearch.models.numpy_text import NumpyTextEncoder

        self._settings = settings
        self.text = query_encoder_for(settings)
        self._full: QueryEncoder | None = None if isinstance(self.text, NumpyTextEncoder) else self.text
        self.info: ModelInfo = self.text.info

    @property
    def device(self) -> str:
        return self.text.device

    @property
    def tokenizer(self) -> SubwordTokenizer:
        return self.text.tokenizer

    @property
    def full(self) -> QueryEncoder:
        """The torch models (loaded now if they are not yet)."""
        if self._full is None:
            self._full = torch_encoder(self._settings)
        return self._full

    def content(
        self, words: Sequence[str] | None = None, audio: np.ndarray | None = None,
        boundaries: Sequence[Sequence] | None = None, modalities: ContentModalities = "ta",
    ) -> np.ndarray:
        if audio is None and modalities == "t":
            return self.text.content(words, modalities="t")
        return self.full.content(words, audio, boundaries, modalities)

    def gestures(self, frame_chunks: Iterable[np.ndarray]) -> np.ndarray:
        return self.full.gestures(frame_chunks)
