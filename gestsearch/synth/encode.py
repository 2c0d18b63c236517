"""Writing a clip as MP4 (H.264 video + AAC audio) with PyAV, reproducibly."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from gestsearch.constants import FPS, SAMPLE_RATE
from gestsearch.errors import MediaError

# The same frames always give the same bytes: one encoder thread, no wall-clock metadata, and
# no macroblock-tree rate control (with it this libx264 build gives one of several outputs at
# random for the same input at 480x270, measured ~1 run in 3).
_X264_OPTIONS = {"preset": "veryfast", "crf": "20", "threads": "1", "x264-params": "mbtree=0"}
_AUDIO_BITRATE = 48_000


def write_mp4(path: Path, frames: np.ndarray, audio: np.ndarray) -> None:
    """Encode RGB ``frames`` (T, H, W, 3) uint8 at 25 fps and mono float32 16 kHz ``audio`` (N,)."""
    n_frames, height, width, _ = frames.shape
    try:
        with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
            video = container.add_stream("libx264", rate=FPS, options=_X264_OPTIONS)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.codec_context.flags |= av.codec.context.Flags.bitexact
            sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            sound.bit_rate = _AUDIO_BITRATE
            sound.codec_context.flags |= av.codec.context.Flags.bitexact
            for i in range(n_frames):
                # OpenCV's BT.601 limited-range I420 is what H.264 decoders assume, and faster than swscale
                frame = av.VideoFrame.from_ndarray(cv2.cvtColor(frames[i], cv2.COLOR_RGB2YUV_I420), format="yuv420p")
                frame.pts = i
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
            chunk = sound.codec_context.frame_size or 1024
            for start in range(0, len(audio), chunk):
                samples = audio[None, start : start + chunk].astype(np.float32)
                block = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                block.sample_rate, block.pts, block.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
                container.mux(sound.encode(block))
            container.mux(sound.encode(None))
    except (av.FFmpegError, OSError) as e:
        raise MediaError(path, f"cannot write the clip: {e}") from e
