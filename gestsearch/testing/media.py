"""Small synthetic media files written with PyAV (for tests and benchmarks; no ffmpeg binary).

The codec follows the file suffix: ``.mp4``/``.mov``/``.mkv`` H.264 + AAC (Opus in mkv),
``.avi`` MPEG-4 + PCM, ``.webm`` VP8 + Opus; audio files ``.wav`` PCM, ``.mp3``, ``.m4a`` AAC.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gestsearch.constants import SAMPLE_RATE
from gestsearch.media.encode import add_audio_stream, encode_audio, muxer_for

_VIDEO_CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".avi": "mpeg4", ".webm": "libvpx"}


def pattern_frames(n_frames: int, width: int = 160, height: int = 120) -> Iterator[np.ndarray]:
    """RGB uint8 frames: colour bars with a bright square sweeping across, one step per frame."""
    bars = np.array([[192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0],
                     [192, 0, 192], [192, 0, 0], [0, 0, 192]], dtype=np.uint8)
    base = bars[np.arange(width) * len(bars) // width][None].repeat(height, axis=0)
    side = max(2, height // 6)
    for k in range(n_frames):
        frame = base.copy()
        x = (k * 4) % max(1, width - side)
        frame[height // 2 - side // 2 : height // 2 + side // 2, x : x + side] = 255
        yield frame


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int | Fraction = 25,
    timestamps: Sequence[float] | None = None,
    rotation: int = 0,
    audio: np.ndarray | None = None,
    audio_rate: int = SAMPLE_RATE,
    audio_start_s: float = 0.0,
    faststart: bool = False,
) -> Path:
    """Encode RGB uint8 ``frames`` (all the same size) and optional mono float ``audio``.

    ``timestamps`` (seconds, one per frame) make a variable-frame-rate file; ``rotation``
    (degrees counter-clockwise) is stored as display-matrix side data like phone videos;
    ``audio_start_s`` delays the first audio sample against the first video frame;
    ``faststart`` puts the MP4 index before the media data (as web videos do).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(f"file:{path.resolve()}", "w", format=muxer_for(suffix), options=options) as container:
        stream = container.add_stream(_VIDEO_CODECS[suffix], rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        sound = add_audio_stream(container, suffix, audio_rate) if audio is not None else None
        for k, image in enumerate(_chain(first, frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if timestamps is not None:
                frame.pts, frame.time_base = round(timestamps[k] * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if sound is not None:
            encode_audio(container, sound, audio, audio_rate, audio_start_s)
    return path


def tone(seconds: float, frequency: float = 440.0, rate: int = SAMPLE_RATE, amplitude: float = 0.5) -> np.ndarray:
    """A float32 sine tone."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest
