"""Audio as float32 mono 16 kHz samples in [-1, 1], from any file PyAV reads or a sidecar .wav."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from gestsearch.constants import SAMPLE_RATE, SAMPLES_PER_FRAME
from gestsearch.errors import MediaError, NoAudioError
from gestsearch.media.container import check_file, decode_stream, open_media
from gestsearch.media.video import probe, video_stream


def load_audio(path: str | Path, sidecar: bool = True) -> np.ndarray | None:
    """Decode the sound of ``path`` to float32 mono 16 kHz samples ``(N,)`` in [-1, 1].

    - Audio files (wav, mp3, m4a, ogg...): all their samples.
    - Videos: a sidecar ``NAME.wav`` next to the video when present and ``sidecar`` is true
      (pre-cropped JEGAL clips have no sound track), else the video's own sound track. The
      result is laid on the video's 25 fps timeline: sample 0 is the time of video frame 0 and
      ``N = n_frames * 640`` (zero-padded or cut at the ends), so frame ``k`` owns samples
      ``[640 k, 640 (k + 1))`` and A/V offsets in the container are honoured.

    Returns None for a video without any audio (gesture-only indexing still works). Raises
    :class:`MediaError` for missing, empty or undecodable files, :class:`NoAudioError` for a
    file with neither sound nor pictures.
    """
    p = check_file(path)
    with open_media(p) as container:
        has_video = video_stream(container) is not None
        has_audio = bool(container.streams.audio)
    if not has_video:
        if not has_audio:
            raise NoAudioError(p, "neither audio nor video stream")
        return _decode(p)[0]
    info = probe(p)
    wav = p.with_suffix(".wav")
    if sidecar and wav != p and wav.is_file():
        samples, offset_s = _decode(wav)[0], 0.0
    elif has_audio:
        samples, audio_start_s = _decode(p)
        offset_s = audio_start_s - info.start_s
    else:
        return None
    return _on_timeline(samples, offset_s, info.n_frames)


def _decode(path: Path) -> tuple[np.ndarray, float]:
    """All samples of the first audio stream of ``path``, and the time (s) of the first one."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    parts: list[np.ndarray] = []
    start_s: float | None = None
    with open_media(path) as container:
        if not container.streams.audio:
            raise NoAudioError(path, "no audio stream")
        for frame in decode_stream(container, container.streams.audio[0]):
            if start_s is None and frame.time is not None:
                start_s = frame.time
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    if not parts:
        raise MediaError(path, "no decodable audio")
    samples = np.concatenate(parts)
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples, start_s or 0.0


def _on_timeline(samples: np.ndarray, offset_s: float, n_frames: int) -> np.ndarray:
    """Shift ``samples`` (starting ``offset_s`` after video frame 0) onto ``n_frames`` frames."""
    out = np.zeros(n_frames * SAMPLES_PER_FRAME, dtype=np.float32)
    shift = round(offset_s * SAMPLE_RATE)
    src = samples[max(0, -shift) :]
    dst = max(0, shift)
    n = max(0, min(len(src), len(out) - dst))
    out[dst : dst + n] = src[:n]
    return out

