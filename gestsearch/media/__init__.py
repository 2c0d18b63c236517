"""Media in and out: any talk video → 25 fps frames, 16 kHz audio, word timings, masked speaker
tracks (the model input); writing audio and cutting mp4s; AVS manifests and where their media lie.

Conventions (docs/architecture.md): 25 fps timeline from the first displayed frame; audio
float32 mono 16 kHz in [-1, 1]; word boundaries ``[word, start_frame, end_frame]`` inclusive;
model frames float32 RGB ``(T, 270, 480, 3)`` in [0, 1] with the face masked. Every failure a
user can cause raises :class:`gestsearch.errors.MediaError` (naming the file and the reason)
or :class:`gestsearch.errors.TranscriptError`.

The names below load on first use, as in ``gestsearch/__init__.py``: PyAV, MediaPipe, OpenCV and
pocketsphinx are imported only by the calls that need them, so a text query that only needs
``normalise_word`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from gestsearch.errors import MediaError, NoAudioError, TranscriptError

_NAMES = {
    "force_align": "gestsearch.media.align",
    "load_audio": "gestsearch.media.audio",
    "iter_track_frames": "gestsearch.media.masking",
    "load_transcript": "gestsearch.media.sidecars",
    "Track": "gestsearch.media.tracks",
    "main_track": "gestsearch.media.tracks",
    "speaker_tracks": "gestsearch.media.tracks",
    "Transcript": "gestsearch.media.transcript",
    "Word": "gestsearch.media.transcript",
    "normalise_word": "gestsearch.media.transcript",
    "transcript_from_boundaries": "gestsearch.media.transcript",
    "VideoInfo": "gestsearch.media.video",
    "iter_frames": "gestsearch.media.video",
    "probe": "gestsearch.media.video",
}
__all__ = ["MediaError", "NoAudioError", "TranscriptError", *_NAMES]


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'gestsearch.media' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
