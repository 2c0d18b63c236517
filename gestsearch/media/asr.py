"""Optional speech recognition with word times through transformers' Whisper pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import TranscriptError
from gestsearch.media.transcript import Transcript, fill_untimed


def transcribe(audio: np.ndarray, model: str) -> Transcript:
    """Transcribe float32 mono 16 kHz ``audio`` with the Whisper model in ``model``.

    ``model`` is a local directory (model + processor files) or, online, a Hugging Face id.
    Raises :class:`TranscriptError` when the model cannot be found, loaded or run.
    """
    if model.startswith(("/", ".", "~")) and not Path(model).expanduser().is_dir():
        raise TranscriptError(f"speech recognition model directory not found: {model}")
    try:
        from transformers import pipeline

        recogniser = pipeline("automatic-speech-recognition", model=model)
        result = recogniser(
            {"raw": np.asarray(audio, dtype=np.float32), "sampling_rate": SAMPLE_RATE},
            return_timestamps="word",
            chunk_length_s=30,
        )
    except (OSError, ValueError, ImportError, RuntimeError) as e:
        raise TranscriptError(f"speech recognition with {model!r} failed: {e}") from e
    chunks = result.get("chunks") or []
    displays = [str(c["text"]).strip() for c in chunks]
    duration = len(audio) / SAMPLE_RATE
    times = [_span(c.get("timestamp"), duration) for c in chunks]
    words = fill_untimed(displays, times, (0.0, duration))
    return Transcript(words, str(result.get("text", "")).strip(), "asr:whisper")


def _span(timestamp: tuple | None, duration: float) -> tuple[float, float] | None:
    """Whisper gives ``(start, end)``; the last word's end may be None (then: the audio end)."""
    if not timestamp or timestamp[0] is None:
        return None
    start, end = timestamp
    return (float(start), float(end if end is not None else max(start, duration)))
