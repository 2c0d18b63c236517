"""`gestsearch embed`: one pre-cropped, face-masked speaker track → embeddings (like the official inference script)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gestsearch.atomic import atomic_path
from gestsearch.embedding import Embedder
from gestsearch.errors import ModelInputError
from gestsearch.media import load_audio, load_transcript, speaker_tracks
from gestsearch.media.masking import iter_track_frames
from gestsearch.media.sidecars import load_transcript_file
from gestsearch.types import EMBED_MODALITIES, EmbedModalities, check_choice


@dataclass
class EmbedResult:
    gesture: np.ndarray | None  # (T, 512) L2-normalised
    content: np.ndarray | None  # (W, 512) L2-normalised
    words: list[str] = field(default_factory=list)
    boundaries: list[tuple[int, int]] = field(default_factory=list)  # 25 fps frames, inclusive
    text: str = ""

    def save(self, path: Path, model: str) -> None:
        """Write an .npz (via a temp file, so a failure leaves nothing half-written)."""
        arrays = {"model": np.array(model)}
        if self.gesture is not None:
            arrays["gesture_emb"] = self.gesture
        if self.content is not None:
            arrays["content_emb"] = self.content
            arrays["words"] = np.array(self.words)
            arrays["word_boundaries"] = np.array(self.boundaries, dtype=np.int64).reshape(-1, 2)
            arrays["text"] = np.array(self.text)
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)


def embed_file(
    embedder: Embedder,
    modalities: EmbedModalities,
    video: Path | None = None,
    audio: Path | None = None,
    transcript: Path | None = None,
    chunk_frames: int = 64,
) -> EmbedResult:
    """Embed the gestures of ``video`` and/or the content of its speech (``transcript``, ``audio``)."""
    check_choice(modalities, EMBED_MODALITIES, "--modalities", ModelInputError)
    content_mode = modalities.replace("v", "")
    if "v" in modalities and video is None:
        raise ModelInputError("modality 'v' needs --video")
    if "v" not in modalities and video is not None and not content_mode:
        raise ModelInputError("--video given but --modalities has no 'v'")
    if content_mode and transcript is None and video is None:
        raise ModelInputError(f"modalities {content_mode!r} need --transcript (a WhisperX-style word file)")
    if "a" in content_mode and audio is None and video is None:
        raise ModelInputError("modality 'a' needs --audio (or a --video with sound)")

    result = EmbedResult(None, None)
    if "v" in modalities:
        track = speaker_tracks(video, mode="precropped")[0]
        result.gesture = embedder.gestures(iter_track_frames(video, track, chunk_frames, mask=False))
    if content_mode:
        samples = load_audio(audio or video) if "a" in content_mode else None
        if "a" in content_mode and samples is None:
            raise ModelInputError(f"{audio or video}: no audio found for modality 'a'")
        words = load_transcript_file(transcript, samples) if transcript else load_transcript(video, samples)
        if words is None or not words.words:
            raise ModelInputError(f"no transcript for {video}: pass --transcript")
        boundaries = words.boundaries()
        result.content = embedder.content(
            [w for w, _, _ in boundaries], samples, boundaries, content_mode
        )
        result.words = [w for w, _, _ in boundaries]
        result.boundaries = [(s, e) for _, s, e in boundaries]
        result.text = words.text
    return result
