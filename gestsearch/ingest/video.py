"""One video → the records the index stores: its speaker tracks, cut into clips, each with
per-frame gesture vectors and, where the words are known, the pooled content of its speech.

``embed_video`` is what ``gestsearch index`` runs per file; ``video_record`` and
``clip_record`` build the records the same way for every caller (the indexer, the evaluation
gallery), so ids, times and pooling cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gestsearch import runtime
from gestsearch.constants import FPS, SAMPLES_PER_FRAME
from gestsearch.embedding import Embedder
from gestsearch.errors import GestsearchError, TranscriptError
from gestsearch.ingest.spans import ClipPolicy, Span, phrase_spans, window_spans
from gestsearch.ingest.speaking import speaking_scores
from gestsearch.media import Track, Transcript, iter_track_frames, load_audio, load_transcript, probe, speaker_tracks
from gestsearch.media.masking import PREFETCH_CHUNKS
from gestsearch.progress import Progress, Update, silent
from gestsearch.store import ClipRecord, VideoRecord, clip_id_for, covered_frames, video_id_for
from gestsearch.types import Boundary, TrackMode
from gestsearch.vectors import l2_normalize

FRAMES_TASK = "frames"  # the progress task embed_video advances, one unit per embedded frame
MAX_WORDS_PER_SECOND = 8  # fast speech is 4-5 words a second


@dataclass
class VideoClips:
    clips: list[ClipRecord]
    n_tracks: int
    frames: int  # of video the clips hold, each frame once (store.records.covered_frames)
    notes: list[str]  # e.g. transcript words the clips could not use


def video_record(path: Path, digest: str, fingerprint: str, key: str | None = None) -> VideoRecord:
    """The index row of the file at ``path`` (sha256 ``digest``), status "indexed", no tracks yet.

    ``key`` names the video in the index when it is not the file itself (an evaluation clip cut
    from a longer download). Duration and frame rate are 0 when the file cannot be probed: the
    embedding step then fails with the reason.
    """
    key = key or str(path)
    stat = path.stat()
    try:
        info = probe(path)
        duration, fps = info.duration_s, info.source_fps
    except GestsearchError:
        duration, fps = 0.0, 0.0
    return VideoRecord(
        video_id=video_id_for(key), path=key, content_hash=digest, size_bytes=stat.st_size,
        mtime=stat.st_mtime, duration_s=duration, fps=fps, n_tracks=0, status="indexed", reason="",
        fingerprint=fingerprint,
    )


def clip_record(
    video: VideoRecord,
    track: int,
    first: int,
    last: int,
    frames: np.ndarray,
    content: np.ndarray | None = None,
    words: Sequence[Boundary] = (),
    text: str = "",
    path: str | None = None,
) -> ClipRecord:
    """The clip of frames ``first … last`` (inclusive) of ``track``; ``frames`` (n, 512) are its
    normalised gesture vectors, ``content`` its pooled speech content. ``path``: the media file
    when it is not ``video.path``."""
    return ClipRecord(
        clip_id=clip_id_for(video.video_id, video.content_hash, track, first, last),
        video_id=video.video_id,
        path=path or video.path,
        track=track,
        start_s=first / FPS,
        end_s=(last + 1) / FPS,
        start_frame=first,
        end_frame=last,
        gesture=l2_normalize(frames.mean(0)),
        frames=frames.astype(np.float16),
        content=content,
        words=[tuple(w) for w in words],
        text=text,
    )


def default_prefetch(embedder: Embedder) -> int:
    """Chunks to decode and mask ahead of the models: :data:`PREFETCH_CHUNKS` when a core is left
    for it (the models run on a GPU, or on fewer threads than the process has cores), else none.
    With every core running the models, the background thread only competes with them: on 2 idle
    cores it made indexing 0.87× as fast (benchmarks/README.md, "Pipelining")."""
    spare_core = embedder.device != "cpu" or embedder.threads < runtime.usable_cores()
    return PREFETCH_CHUNKS if spare_core else 0


def embed_video(
    path: Path,
    record: VideoRecord,
    embedder: Embedder,
    track_mode: TrackMode = "auto",
    policy: ClipPolicy = ClipPolicy(),
    chunk_frames: int = 64,
    asr_model: str | None = None,
    progress: Progress | None = None,
    prefetch: int | None = None,
    tracks: Callable[[], list[Track]] | None = None,
) -> VideoClips:
    """All clips of one video: per speaker track, gesture frames and (with speech) content, and
    with two or more tracks each clip's speaking score (:mod:`gestsearch.ingest.speaking`).

    ``progress`` sees :data:`FRAMES_TASK` events: the frames embedded so far, of all the tracks'
    frames (known once the tracks are found; a frame in two people's tracks counts twice).
    ``prefetch``: chunks decoded and masked ahead of the models (:func:`~gestsearch.media.iter_track_frames`);
    None: :func:`default_prefetch`. ``tracks``: where this video's speaker tracks come from (the
    indexer finds them ahead, in a background thread); None: :func:`speaker_tracks` here.
    """
    progress = progress or silent
    prefetch = default_prefetch(embedder) if prefetch is None else prefetch
    audio = load_audio(path)
    transcript = load_transcript(path, audio, asr_model)
    notes = _check_words(path, transcript, probe(path).n_frames)
    tracks = tracks() if tracks is not None else speaker_tracks(path, mode=track_mode)
    if not tracks:
        raise GestsearchError(f"{path}: no speaker found")
    total = sum(track.n_frames for track in tracks)
    clips: list[ClipRecord] = []
    embedded = 0
    for track in tracks:
        chunks = embedder.gesture_stream(iter_track_frames(path, track, chunk_frames, prefetch=prefetch))
        gestures = np.concatenate(list(_counted(chunks, embedded, total, progress)))
        embedded += len(gestures)
        for span in _spans(track, transcript, policy):
            clips.append(_clip(record, track, span, gestures, embedder, audio, transcript))
    for clip, score in zip(clips, speaking_scores(clips)):
        clip.speaking = score
    frames = covered_frames(*(np.array([getattr(c, f) for c in clips]) for f in ("video_id", "track", "start_frame", "end_frame")))
    return VideoClips(clips, len(tracks), frames, notes)


def _check_words(path: Path, transcript: Transcript | None, n_frames: int) -> list[str]:
    """Notes on transcript words the clips cannot use; a :class:`TranscriptError` for a transcript
    that cannot be this video's (far more words than anyone speaks in its time)."""
    if transcript is None or not transcript.words:
        return []
    seconds = n_frames / FPS
    words = len(transcript.words)
    if words > MAX_WORDS_PER_SECOND * max(seconds, 1.0):
        raise TranscriptError(
            f"{path}: its transcript ({transcript.source}) has {words} words for {seconds:.1f} s of video, "
            f"more than {MAX_WORDS_PER_SECOND} a second: it is not a transcript of this video"
        )
    late = sum(w.start_frame >= n_frames for w in transcript.words)
    if not late:
        return []
    return [f"{path}: {late} of {words} transcript words start after the video ends ({seconds:.2f} s) and were dropped"]


def _spans(track: Track, transcript: Transcript | None, policy: ClipPolicy) -> list[Span]:
    if transcript is not None and transcript.words:
        spans = phrase_spans([tuple(b) for b in transcript.boundaries()], track.start_frame, track.end_frame, policy)
        if spans:
            return spans
    return window_spans(track.start_frame, track.end_frame, policy)


def _clip(
    video: VideoRecord,
    track: Track,
    span: Span,
    gestures: np.ndarray,
    embedder: Embedder,
    audio: np.ndarray | None,
    transcript: Transcript | None,
) -> ClipRecord:
    frames = gestures[span.start_frame - track.start_frame : span.end_frame - track.start_frame + 1]
    content = None
    text = ""
    if span.words:
        words = [w for w, _, _ in span.words]
        relative = [(w, s - span.start_frame, e - span.start_frame) for w, s, e in span.words]
        segment = None if audio is None else audio[span.start_frame * SAMPLES_PER_FRAME : (span.end_frame + 1) * SAMPLES_PER_FRAME]
        modalities = "ta" if segment is not None and len(segment) > 0 else "t"
        content = l2_normalize(embedder.content(words, segment, relative, modalities).mean(0))
        display = {(w.word, w.start_frame): w.display for w in transcript.words} if transcript else {}
        text = " ".join(display.get((w, s), w) for w, s, _ in span.words)
    return clip_record(video, track.index, span.start_frame, span.end_frame, frames, content, span.words, text)


def _counted(chunks: Iterable[np.ndarray], done: int, total: int, progress: Progress) -> Iterator[np.ndarray]:
    for chunk in chunks:
        done += len(chunk)
        progress(Update(FRAMES_TASK, done, total))
        yield chunk
