"""Media → records: cutting speaker tracks into clips and embedding them for the index."""

from gestsearch.ingest.embed_file import EmbedResult, embed_file
from gestsearch.ingest.spans import ClipPolicy, Span, phrase_spans, window_spans
from gestsearch.ingest.speaking import speaking_scores
from gestsearch.ingest.video import VideoClips, clip_record, embed_video, video_record

__all__ = [
    "ClipPolicy",
    "EmbedResult",
    "Span",
    "VideoClips",
    "clip_record",
    "embed_file",
    "embed_video",
    "phrase_spans",
    "speaking_scores",
    "video_record",
    "window_spans",
]
