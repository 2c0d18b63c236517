"""Model glue: masked frames → gesture embeddings, words/speech → content embeddings.

Used by ``gestsearch embed``, the indexer, search and eval, so the three agree exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal

import numpy as np
import torch

from gestsearch import runtime
from gestsearch.config import Settings
from gestsearch.constants import SAMPLES_PER_FRAME, WINDOW_BATCH
from gestsearch.errors import ModelInputError
from gestsearch.features import log_mel
from gestsearch.models import JEGAL, GestSync, load_gestsync, load_jegal
from gestsearch.models.backend import autocast, configure_cuda, each_under, openvino_kernels, resolve_backend
from gestsearch.models.checkpoint import read_checkpoint
from gestsearch.models.gestsync import Kernels
from gestsearch.models.identity import ModelInfo, fingerprint, resolve_checkpoints
from gestsearch.models.subwords import SubwordTokenizer
from gestsearch.types import CONTENT_MODALITIES, ContentModalities, Precision, check_choice
from gestsearch.vectors import l2_normalize

__all__ = ["Embedder", "ModelInfo", "fingerprint", "resolve_checkpoints"]


def _normalised(x: torch.Tensor) -> np.ndarray:
    """Model output rows L2-normalised (eps 1e-12, like the released scripts), as float32 numpy."""
    return l2_normalize(x.float().cpu().numpy())


class Embedder:
    """GestSync + JEGAL with the batching and streaming the project uses everywhere."""

    def __init__(
        self,
        gestsync: GestSync | Callable[[], GestSync],
        jegal: JEGAL,
        info: ModelInfo,
        batch_size: int = WINDOW_BATCH,
        backend: Literal["torch", "openvino"] = "torch",
        precision: Precision = "fp32",
        threads: int = 1,
    ):
        """``gestsync``: the network, or a function that loads it on first use (a text query never does).
        ``backend``, ``precision``, ``threads``: what runs GestSync (see ``gestsearch.models.backend``);
        with the torch backend, ``precision`` also applies to JEGAL's gesture head. The fingerprint
        does not depend on them, the weights are the same."""
        self._gestsync = gestsync
        self.jegal = jegal
        self.info = info
        self.batch_size = batch_size
        self.backend, self.precision, self.threads = backend, precision, threads
        self._kernels: Kernels | None = None

    @property
    def gestsync(self) -> GestSync:
        if not isinstance(self._gestsync, torch.nn.Module):
            self._gestsync = self._gestsync()
        return self._gestsync

    @property
    def device(self) -> str:
        """Where the models run ("cpu", "cuda:0"...): search runs its ANN stage there too."""
        return str(self.jegal.device)

    @property
    def tokenizer(self) -> SubwordTokenizer:
        return self.jegal.backbone().tokenizer

    @property
    def kernels(self) -> Kernels:
        """GestSync's compute: the torch module's own, or OpenVINO's, compiled from it on first use."""
        if self._kernels is None:
            model = self.gestsync
            self._kernels = model.kernels if self.backend == "torch" else openvino_kernels(model, self.precision, self.threads)
        return self._kernels

    @classmethod
    def from_settings(cls, settings: Settings, gestsync_now: bool = True) -> Embedder:
        """``gestsync_now``: load GestSync now, so that a bad checkpoint fails before any work; False:
        on first gesture use (a text query never builds it; its file is only checked)."""
        gs_path, jg_path, text_model, name = resolve_checkpoints(settings)
        device = settings.torch_device()
        backend = resolve_backend(settings.backend, settings.precision, device)
        if device.startswith("cuda"):
            configure_cuda()
        gestsync = functools.partial(load_gestsync, gs_path, device)
        if gestsync_now:
            gestsync = gestsync()
        else:
            read_checkpoint(gs_path)  # a missing or unreadable file still fails first, as its own error
        jegal = load_jegal(jg_path, text_backbone=text_model, device=device)
        info = ModelInfo(name=name, fingerprint=fingerprint(gs_path, jg_path, text_model))
        batch_size = settings.window_batch(device)
        return cls(gestsync, jegal, info, batch_size, backend, settings.precision, runtime.limit_threads())

    # -- gestures --------------------------------------------------------------------------
    def gesture_stream(self, frame_chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Chunks of masked frames (n, 270, 480, 3) float32 in [0,1] → chunks of (n', 512)
        L2-normalised gesture embeddings, in frame order; memory stays bounded."""
        tensors = (torch.as_tensor(c) for c in frame_chunks)
        features = self.gestsync.stream_features(tensors, self.batch_size, self.kernels)
        gestures = self.jegal.stream_gestures(features)
        if self.backend == "torch" and self.precision != "fp32":
            device = str(self.jegal.device)
            gestures = each_under(lambda: autocast(device, self.precision), gestures)
        for out in gestures:
            yield _normalised(out)

    def gestures(self, frame_chunks: Iterable[np.ndarray]) -> np.ndarray:
        parts = list(self.gesture_stream(frame_chunks))
        return np.concatenate(parts) if parts else np.zeros((0, self.jegal.config.dim), np.float32)

    # -- content ---------------------------------------------------------------------------
    def content(
        self,
        words: Sequence[str] | None = None,
        audio: np.ndarray | None = None,
        boundaries: Sequence[Sequence] | None = None,
        modalities: ContentModalities = "ta",
    ) -> np.ndarray:
        """(W, 512) L2-normalised content embeddings from text and/or speech.

        ``audio``: 16 kHz samples of the recording the ``boundaries`` (25 fps frames) refer to.
        The released model reads speech from the first word on, so the audio is cut there.
        """
        check_choice(modalities, CONTENT_MODALITIES, "content modalities", ModelInputError)
        use_text, use_audio = "t" in modalities, "a" in modalities
        if use_audio and (audio is None or not boundaries):
            raise ModelInputError("speech content needs audio and word timings")
        if use_text and not words:
            raise ModelInputError("text content needs words")
        mel = None
        if use_audio:
            first = int(boundaries[0][1])
            mel = log_mel(np.asarray(audio)[first * SAMPLES_PER_FRAME :])
        with runtime.small_model_threads():
            out = self.jegal.embed_content(
                words=list(words) if use_text else None,
                mel=mel,
                word_boundaries=[list(b) for b in boundaries] if use_audio else None,
            )
        return _normalised(out)
