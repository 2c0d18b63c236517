"""Opening media files safely with PyAV, and the 25 fps timeline of their video stream.

Every failure to open or read a file becomes a :class:`MediaError` naming the file and the
reason. Paths go to FFmpeg as ``file:<absolute path>``, so no character in a file name (spaces,
quotes, ``$(...)``, a ``concat:`` prefix...) is ever interpreted, and no shell is involved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from gestsearch.constants import FPS
from gestsearch.errors import MediaError

log = logging.getLogger(__name__)


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking it names a non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if not p.is_file():
        raise MediaError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise MediaError(p, "empty file (0 bytes)")
    return p


@contextmanager
def open_media(path: str | Path) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading; FFmpeg failures become :class:`MediaError`."""
    p = check_file(path)
    try:
        container = av.open(f"file:{p.resolve()}", mode="r")
    except av.error.FFmpegError as e:
        raise MediaError(p, f"not a readable media file ({_reason(e)})") from e
    except (OSError, ValueError) as e:
        raise MediaError(p, f"cannot open ({e})") from e
    try:
        yield container
    except av.error.FFmpegError as e:
        raise MediaError(p, f"decoding failed ({_reason(e)})") from e
    finally:
        container.close()


def decode_stream(container: av.container.InputContainer, stream: av.stream.Stream) -> Iterator[av.frame.Frame]:
    """Decode one stream packet by packet, skipping packets FFmpeg cannot decode.

    Damaged packets in the middle of a file (byte flips, cut downloads) are skipped, as the
    ffmpeg command line does, instead of failing the whole file; one warning says how many.
    """
    skipped = 0
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.error.InvalidDataError:
                skipped += 1
    finally:
        if skipped:
            name = container.name.removeprefix("file:")
            log.warning("%s: skipped %d undecodable %s packet(s)", name, skipped, stream.type)


@dataclass(frozen=True)
class Timeline:
    """Where the displayed frames of a video stream lie, in seconds of container time."""

    start_s: float
    end_s: float
    n_source_frames: int

    @property
    def n_frames(self) -> int:
        """Frames at 25 fps: round(duration * 25), at least 1."""
        return max(1, round((self.end_s - self.start_s) * FPS))


def video_timeline(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Timeline | None:
    """Scan the packets of ``stream`` (no decoding) for its true displayed time span.

    Packets an MP4 edit list cuts away carry FFmpeg's discard flag and are skipped (decord
    keeps them). The last frame lasts as long as the interval before it (container durations
    of last samples are often padded), or 1/average rate for a single frame. None when the
    stream has no packets at all.
    """
    tb = stream.time_base
    times: list[float] = []
    for packet in container.demux(stream):
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.is_discard or packet.size == 0:
            continue
        times.append(float(ts * tb))
    if not times:
        return None
    times.sort()
    if len(times) > 1:
        last_interval = times[-1] - times[-2]
    else:
        rate = stream.average_rate or stream.guessed_rate or FPS
        last_interval = 1.0 / float(rate)
    return Timeline(start_s=times[0], end_s=times[-1] + last_interval, n_source_frames=len(times))


def _reason(error: av.error.FFmpegError) -> str:
    return error.strerror or type(error).__name__
