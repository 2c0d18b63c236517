"""The modes of the tool as ``Literal`` types, with their values for validation and help text."""

from __future__ import annotations

from typing import Literal, get_args

from gestsearch.errors import ConfigError

Boundary = tuple[str, int, int]  # (word, start_frame, end_frame), inclusive, 25 fps

ContentModalities = Literal["t", "a", "ta"]  # text, speech, or both fused (the paper's best)
EmbedModalities = Literal["vta", "vt", "va", "ta", "v", "t", "a"]  # `gestsearch embed`: v = gestures
TrackMode = Literal["auto", "precropped", "raw"]  # how speaker tracks are found in a video
Column = Literal["gesture", "content"]  # the pooled vector columns of the index
Backend = Literal["faiss", "lance"]  # who answers pooled vector searches
QueryMode = Literal["text", "audio", "gesture"]
Preset = Literal["tiny", "paper"]  # training presets
ManifestKind = Literal["ret", "spot", "asd", "auto"]
VideoStatus = Literal["indexed", "failed"]
InferenceBackend = Literal["auto", "torch", "openvino"]  # who runs GestSync; auto: OpenVINO on the CPU when installed
Precision = Literal["fp32", "bf16"]  # GestSync's arithmetic; bf16: only where native (gestsearch.models.backend)
FrameEncoding = Literal["int8", "float16"]  # how the index stores per-frame vectors

CONTENT_MODALITIES: tuple[str, ...] = get_args(ContentModalities)
EMBED_MODALITIES: tuple[str, ...] = get_args(EmbedModalities)
TRACK_MODES: tuple[str, ...] = get_args(TrackMode)
COLUMNS: tuple[str, ...] = get_args(Column)
BACKENDS: tuple[str, ...] = get_args(Backend)
QUERY_MODES: tuple[str, ...] = get_args(QueryMode)
PRESETS: tuple[str, ...] = get_args(Preset)
MANIFEST_KINDS: tuple[str, ...] = get_args(ManifestKind)
VIDEO_STATUSES: tuple[str, ...] = get_args(VideoStatus)
INFERENCE_BACKENDS: tuple[str, ...] = get_args(InferenceBackend)
PRECISIONS: tuple[str, ...] = get_args(Precision)
FRAME_ENCODINGS: tuple[str, ...] = get_args(FrameEncoding)


def check_choice(value: str, choices: tuple[str, ...], what: str, error: type[Exception] = ConfigError) -> str:
    """``value`` when it is one of ``choices``; otherwise ``error`` naming ``what`` and the choices."""
    if value not in choices:
        raise error(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value
