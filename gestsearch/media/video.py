"""Video decoding onto the constant 25 fps timeline, in bounded chunks (PyAV throughout).

Timeline rule (what ``ffmpeg -r 25`` does, with its default "near" rounding): output frame
``k`` (time ``k/25`` s after the first displayed frame) shows the last source frame whose
timestamp is before ``(k + 0.5)/25`` (a frame exactly half-way belongs to the later output
frame). A 30 fps source therefore gives source frames 0, 1, 2, 4, 5, 6, ...; a variable
frame rate source is resampled by its real timestamps. The timeline has
``round(duration * 25)`` frames, where the duration runs from the first displayed frame to
the end of the last one (MP4 edit lists honoured: decord ignores them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from gestsearch.constants import FPS
from gestsearch.errors import MediaError
from gestsearch.media.container import check_file, decode_stream, open_media, video_timeline

_TIME_EPSILON = 1e-6  # seconds; timestamps are exact fractions turned into floats


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video file.

    ``n_frames`` counts frames of the 25 fps timeline, ``duration_s`` its length in seconds and
    ``start_s`` the container time of its frame 0 (the first displayed frame).
    ``width``/``height`` are display sizes, after ``rotation`` (degrees counter-clockwise from
    the display matrix: 0, 90, 180 or 270) is applied. ``has_audio`` is true when the file has
    an audio stream or a sidecar ``NAME.wav`` next to it.
    """

    path: Path
    duration_s: float
    source_fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool
    rotation: int
    start_s: float = 0.0


def probe(path: str | Path) -> VideoInfo:
    """Describe the video in ``path``.

    Raises :class:`MediaError` (naming the file and the reason) for missing, empty, corrupt,
    truncated, audio-only or non-media files.
    """
    p = check_file(path)
    with open_media(p) as container:
        stream = video_stream(container)
        if stream is None:
            if container.streams.audio:
                raise MediaError(p, "audio-only file: no video stream")
            raise MediaError(p, "no video or audio stream")
        has_audio = bool(container.streams.audio) or p.with_suffix(".wav").is_file()
        timeline = video_timeline(container, stream)
    if timeline is None:
        raise MediaError(p, "the video stream has no frames")
    with open_media(p) as container:
        first = next(decode_stream(container, video_stream(container)), None)
    if first is None:
        raise MediaError(p, "no decodable video frame")
    rotation = _rotation(first)
    width, height = (first.height, first.width) if rotation % 180 else (first.width, first.height)
    duration = timeline.end_s - timeline.start_s
    return VideoInfo(
        path=p,
        duration_s=duration,
        source_fps=round(timeline.n_source_frames / duration, 6),  # a measured average: drop float noise
        n_frames=timeline.n_frames,
        width=width,
        height=height,
        has_audio=has_audio,
        rotation=rotation,
        start_s=timeline.start_s,
    )


def iter_frames(
    path: str | Path,
    chunk_frames: int = 64,
    start_frame: int = 0,
    end_frame: int | None = None,
    max_side: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield RGB uint8 chunks ``(n <= chunk_frames, H, W, 3)`` of the 25 fps timeline.

    Frames ``[start_frame, end_frame)`` (``end_frame`` None: to the end) are decoded, rotated
    upright and, when ``max_side`` is given, downscaled so that their longer side is at most
    ``max_side`` pixels (use it for 4K sources: a chunk of 64 frames at 3840x2160 is 1.6 GB).
    Memory stays at one chunk plus one decoded frame, whatever the video length.
    """
    info = probe(path)
    scale = 1.0 if max_side is None else min(1.0, max_side / max(info.width, info.height))
    yield from batched(read_frames(info, start_frame, end_frame, scale), chunk_frames)


def read_frames(
    info: VideoInfo, start_frame: int = 0, end_frame: int | None = None, scale: float = 1.0
) -> Iterator[np.ndarray]:
    """Yield single upright RGB uint8 frames ``(H, W, 3)`` of the 25 fps timeline.

    ``scale`` resizes every frame (FFmpeg area filter) before it is converted to RGB, so large
    sources are never held at full size. Repeated output frames share one array.
    """
    end = info.n_frames if end_frame is None else min(end_frame, info.n_frames)
    k = max(0, start_frame)
    if k >= end:
        return
    with open_media(info.path) as container:
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        if k > 0:
            target = info.start_s + (k - 0.5) / FPS
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
        shown: av.VideoFrame | None = None
        image: np.ndarray | None = None
        # one converter for the whole read: a frame's own is made anew for every frame (about
        # 0.2-0.4 ms each at 480x270, more than the conversion itself)
        reformatter = VideoReformatter()
        last_t = -1.0 / info.source_fps
        for frame in decode_stream(container, stream):
            t = frame.time - info.start_s if frame.time is not None else last_t + 1.0 / info.source_fps
            last_t = t
            while shown is not None and k < end and t >= (k + 0.5) / FPS - _TIME_EPSILON:
                if image is None:
                    image = _to_rgb(shown, info.rotation, scale, reformatter)
                yield image
                k += 1
            if k >= end:
                return
            shown, image = frame, None
        if shown is None:
            raise MediaError(info.path, f"no decodable video frame at or after frame {k}")
        image = _to_rgb(shown, info.rotation, scale, reformatter) if image is None else image
        while k < end:  # the last frame lasts until the end of the timeline
            yield image
            k += 1


def batched(frames: Iterable[np.ndarray], chunk_frames: int, dtype: type | None = None) -> Iterator[np.ndarray]:
    """Stack same-shaped frames into fresh ``(n <= chunk_frames, ...)`` arrays of ``dtype``."""
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be at least 1, not {chunk_frames}")
    buffer: np.ndarray | None = None
    n = 0
    for frame in frames:
        if buffer is None:
            buffer = np.empty((chunk_frames, *frame.shape), dtype=dtype or frame.dtype)
        buffer[n] = frame
        n += 1
        if n == chunk_frames:
            yield buffer
            buffer, n = None, 0
    if buffer is not None:
        yield buffer[:n]


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first real video stream (cover art in audio files is not one), or None."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _rotation(frame: av.VideoFrame) -> int:
    """Display-matrix rotation of ``frame`` in degrees counter-clockwise: 0, 90, 180 or 270."""
    return round(frame.rotation / 90) % 4 * 90


def _to_rgb(frame: av.VideoFrame, rotation: int, scale: float, reformatter: VideoReformatter) -> np.ndarray:
    if scale < 1.0:
        width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
        image = reformatter.reformat(frame, format="rgb24", width=width, height=height, interpolation="AREA").to_ndarray()
    else:
        image = reformatter.reformat(frame, format="rgb24").to_ndarray()
    if rotation:
        image = np.ascontiguousarray(np.rot90(image, rotation // 90))
    return image
