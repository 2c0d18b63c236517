"""Cutting a span of a video into its own H.264/AAC mp4, re-encoded with PyAV."""

from __future__ import annotations

from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gestsearch.atomic import atomic_path
from gestsearch.constants import FPS
from gestsearch.errors import MediaError


def cut_clip(
    video_path: Path | str,
    start_s: float,
    end_s: float,
    out_path: Path | str,
    audio_path: Path | str | None = None,
) -> Path:
    """Cut ``[start_s, end_s)`` of a video into its own H.264/AAC mp4, re-encoded with PyAV.

    Frames whose timestamp rounds into the span are kept at the source frame rate
    (dimensions rounded down to even). The sound comes from ``audio_path`` when
    given, else from the video's own audio stream, else from a sidecar ``NAME.wav``
    next to the video (the JEGAL sample / AVS layout), else the cut is silent. A
    sidecar is assumed to start with the video. Raises :class:`MediaError` when the
    source cannot be decoded or has no frame in the span.
    """
    video_path, out_path = Path(video_path), Path(out_path)
    if not 0 <= start_s < end_s:
        raise MediaError(video_path, f"cannot cut the empty span {start_s:.3f}-{end_s:.3f} s")
    with atomic_path(out_path) as tmp:  # a killed or failed cut leaves no partial mp4 behind
        try:
            with ExitStack() as stack:
                src = stack.enter_context(av.open(str(video_path)))
                sound = Path(audio_path) if audio_path is not None else _sound_source(video_path, bool(src.streams.audio))
                audio_in = stack.enter_context(av.open(str(sound))) if sound is not None else None
                dst = stack.enter_context(av.open(str(tmp), "w", format="mp4"))
                video_out = _add_video_stream(dst, src.streams.video[0])
                audio_out = _add_audio_stream(dst, audio_in.streams.audio[0]) if audio_in is not None else None
                n_frames = _copy_video(src, video_out, dst, start_s, end_s)
                if audio_in is not None:
                    _copy_audio(audio_in, audio_out, dst, start_s, end_s)
        except (av.error.FFmpegError, OSError, ValueError, IndexError) as e:
            raise MediaError(video_path, f"cannot cut {start_s:.3f}-{end_s:.3f} s: {e}") from e
        if n_frames == 0:
            raise MediaError(video_path, f"no video frame between {start_s:.3f} and {end_s:.3f} s")
    return out_path


def _sound_source(video_path: Path, has_own_audio: bool) -> Path | None:
    if has_own_audio:
        return video_path
    sidecar = video_path.with_suffix(".wav")
    return sidecar if sidecar.is_file() else None


def _add_video_stream(
    dst: av.container.OutputContainer, source: av.video.stream.VideoStream
) -> av.video.stream.VideoStream:
    rate = source.average_rate or source.guessed_rate or Fraction(FPS)
    stream = dst.add_stream("libx264", rate=Fraction(rate).limit_denominator(100_000))
    stream.width = source.codec_context.width // 2 * 2
    stream.height = source.codec_context.height // 2 * 2
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "20", "preset": "veryfast"}
    return stream


def _add_audio_stream(
    dst: av.container.OutputContainer, source: av.audio.stream.AudioStream
) -> av.audio.stream.AudioStream:
    stream = dst.add_stream("aac", rate=source.codec_context.sample_rate)
    stream.layout = "mono" if source.codec_context.channels == 1 else "stereo"
    return stream


def _copy_video(
    src: av.container.InputContainer,
    out_stream: av.video.stream.VideoStream,
    dst: av.container.OutputContainer,
    start_s: float,
    end_s: float,
) -> int:
    """Re-encode the frames whose time rounds into ``[start_s, end_s)``; returns how many."""
    stream = src.streams.video[0]
    half_frame = 0.5 / float(out_stream.codec_context.framerate)
    src.seek(int(max(0.0, start_s - 1.0) / stream.time_base), stream=stream, backward=True)
    count = 0
    for frame in src.decode(stream):
        if frame.time is None or frame.time < start_s - half_frame:
            continue
        if frame.time >= end_s - half_frame:
            break
        out = frame.reformat(width=out_stream.width, height=out_stream.height, format="yuv420p")
        out.pts, out.time_base = count, 1 / out_stream.codec_context.framerate
        dst.mux(out_stream.encode(out))
        count += 1
    dst.mux(out_stream.encode(None))
    return count


def _copy_audio(
    src: av.container.InputContainer,
    out_stream: av.audio.stream.AudioStream,
    dst: av.container.OutputContainer,
    start_s: float,
    end_s: float,
) -> None:
    """Re-encode the samples of ``[start_s, end_s)`` of the first audio stream of ``src``."""
    stream = src.streams.audio[0]
    rate = out_stream.codec_context.sample_rate
    layout = out_stream.codec_context.layout.name
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    src.seek(int(max(0.0, start_s - 1.0) / stream.time_base), stream=stream, backward=True)
    first, last = round(start_s * rate), round(end_s * rate)  # sample indices of the span
    written = 0
    for decoded in src.decode(stream):
        if decoded.time is None:
            continue
        offset = round(decoded.time * rate)
        for frame in resampler.resample(decoded):
            samples = frame.to_ndarray()  # (channels, n)
            lo, hi = max(first - offset, 0), min(last - offset, samples.shape[1])
            offset += samples.shape[1]
            if lo >= hi:
                continue
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, lo:hi]), format="fltp", layout=layout)
            piece.sample_rate, piece.pts, piece.time_base = rate, written, Fraction(1, rate)
            dst.mux(out_stream.encode(piece))
            written += hi - lo
        if offset >= last:
            break
    dst.mux(out_stream.encode(None))
