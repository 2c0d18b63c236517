"""Writing audio with PyAV: a wav/mp3/m4a file, or the sound track of a container being written.

The codec follows the file suffix: ``.wav`` PCM, ``.mp3``, ``.m4a``/``.mp4``/``.mov`` AAC,
``.mkv``/``.webm`` Opus, ``.avi`` PCM.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from gestsearch.constants import SAMPLE_RATE

AUDIO_CODECS = {
    ".mp4": "aac", ".mov": "aac", ".mkv": "libopus", ".avi": "pcm_s16le", ".webm": "libopus",
    ".wav": "pcm_s16le", ".mp3": "libmp3lame", ".m4a": "aac",
}
OPUS_RATE = 48000


def write_audio(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Encode mono float ``samples`` in [-1, 1] to an audio file chosen by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    with av.open(f"file:{path.resolve()}", "w", format=muxer_for(suffix)) as container:
        stream = add_audio_stream(container, suffix, rate)
        encode_audio(container, stream, samples, rate, 0.0)
    return path


def muxer_for(suffix: str) -> str:
    return {".mkv": "matroska", ".m4a": "ipod", ".mov": "mov"}.get(suffix, suffix[1:])


def add_audio_stream(container: av.container.OutputContainer, suffix: str, rate: int) -> av.audio.stream.AudioStream:
    codec = AUDIO_CODECS[suffix]
    return container.add_stream(codec, rate=OPUS_RATE if codec == "libopus" else rate, layout="mono")


def encode_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    samples: np.ndarray,
    rate: int,
    start_s: float,
) -> None:
    """Encode in encoder-sized frames (resampled to the stream's rate and sample format)."""
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=stream.rate)
    size = stream.codec_context.frame_size or 1024
    fifo = av.AudioFifo()
    mono = np.asarray(samples, dtype=np.float32).reshape(1, -1)
    source = av.AudioFrame.from_ndarray(mono, format="flt", layout="mono")
    source.sample_rate = rate
    for frame in resampler.resample(source) + resampler.resample(None):
        frame.pts = None
        fifo.write(frame)
    pts = round(start_s * stream.rate)
    while fifo.samples:
        frame = fifo.read(min(size, fifo.samples), partial=True)
        frame.pts, frame.time_base = pts, Fraction(1, stream.rate)
        pts += frame.samples
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
