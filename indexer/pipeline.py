"""`gestsearch index`: a folder of videos → speaker tracks → embeddings → the gesture store.

Incremental (a file is embedded again only when its content hash changed) and crash-safe
(each video is committed atomically by the store; a killed run is completed by re-running).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from gestsearch.embedding import FPS, SAMPLES_PER_FRAME, Embedder, normalise
from gestsearch.errors import GestsearchError
from gestsearch.store import ClipRecord, GestureStore, VideoRecord, clip_id_for, content_hash, video_id_for
from indexer.clips import ClipPolicy, Span, phrase_spans, window_spans
from indexer.media import Track, Transcript, iter_track_frames, load_audio, load_transcript, probe, speaker_tracks

VIDEO_EXTENSIONS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"}


class Progress(Protocol):
    def start(self, n_files: int, n_frames: int) -> None: ...
    def file(self, path: Path) -> None: ...  # starting a file
    def frames(self, n: int) -> None: ...  # n more frames embedded
    def done(self, path: Path) -> None: ...  # a file finished (indexed or failed)


class _Silent:
    def start(self, n_files: int, n_frames: int) -> None: ...
    def file(self, path: Path) -> None: ...
    def frames(self, n: int) -> None: ...
    def done(self, path: Path) -> None: ...


@dataclass
class IndexSummary:
    db: str
    model: str
    fingerprint: str
    indexed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unchanged since the last run
    failed: list[dict] = field(default_factory=list)  # {"path", "reason"}
    removed: list[str] = field(default_factory=list)  # --prune
    notes: list[str] = field(default_factory=list)  # e.g. tracks with little visible gesturing
    clips: int = 0
    frames: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VideoClips:
    clips: list[ClipRecord]
    n_tracks: int
    frames: int
    notes: list[str]


def find_videos(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively), sorted; hidden directories are skipped."""
    if folder.is_file():
        return [folder]
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def index_folder(
    folder: Path,
    embedder: Embedder,
    db: Path,
    prune: bool = False,
    track_mode: str = "auto",
    policy: ClipPolicy = ClipPolicy(),
    chunk_frames: int = 64,
    asr_model: str | None = None,
    progress: Progress | None = None,
) -> IndexSummary:
    progress = progress or _Silent()
    folder = folder.resolve()
    if not folder.exists():
        raise GestsearchError(f"{folder}: no such file or directory")
    summary = IndexSummary(str(db), embedder.info.name, embedder.info.fingerprint)
    with GestureStore.open(db, fingerprint=embedder.info.fingerprint, create=True) as store:
        videos = find_videos(folder)
        todo: list[tuple[Path, str]] = []
        for path in videos:
            known = store.video_by_path(path)
            try:
                digest = content_hash(path)
            except GestsearchError as e:
                summary.failed.append({"path": str(path), "reason": _reason(e)})
                continue
            if known is not None and known.content_hash == digest and known.status == "indexed":
                summary.skipped.append(str(path))
            else:
                todo.append((path, digest))
        progress.start(len(todo), sum(_frame_estimate(p) for p, _ in todo))
        for path, digest in todo:
            progress.file(path)
            record = _video_record(path, digest, embedder.info.fingerprint)
            try:
                result = embed_video(path, record, embedder, track_mode, policy, chunk_frames, asr_model, progress)
            except GestsearchError as e:
                record.status, record.reason = "failed", _reason(e)
                store.record_failure(record)
                summary.failed.append({"path": str(path), "reason": record.reason})
            else:
                record.n_tracks = result.n_tracks
                store.add_video(record, result.clips)
                summary.indexed.append(str(path))
                summary.clips += len(result.clips)
                summary.frames += result.frames
                summary.notes.extend(result.notes)
            progress.done(path)
        if prune:
            present = {str(p) for p in videos}
            gone = [v.path for v in store.videos() if _under(v.path, folder) and v.path not in present]
            store.remove_videos(gone)
            summary.removed = gone
        store.optimize()  # compacts the per-video fragments and refreshes the FAISS sidecar
    return summary


def embed_video(
    path: Path,
    record: VideoRecord,
    embedder: Embedder,
    track_mode: str = "auto",
    policy: ClipPolicy = ClipPolicy(),
    chunk_frames: int = 64,
    asr_model: str | None = None,
    progress: Progress | None = None,
) -> VideoClips:
    """All clips of one video: per speaker track, gesture frames and (with speech) content."""
    progress = progress or _Silent()
    audio = load_audio(path)
    transcript = load_transcript(path, audio, asr_model)
    tracks = speaker_tracks(path, mode=track_mode)
    if not tracks:
        raise GestsearchError(f"{path}: no speaker found")
    clips: list[ClipRecord] = []
    notes: list[str] = []
    frames = 0
    for track in tracks:
        gestures = np.concatenate(list(_counted(embedder.gesture_stream(iter_track_frames(path, track, chunk_frames)), progress)))
        frames += len(gestures)
        if track.low_gesture:
            notes.append(f"{path} track {track.index}: hands visible in only {track.hand_fraction:.0%} of frames")
        for span in _spans(track, transcript, policy):
            clips.append(_clip(record, track, span, gestures, embedder, audio, transcript))
    return VideoClips(clips, len(tracks), frames, notes)


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
        content = normalise(embedder.content(words, segment, relative, modalities).mean(0))
        display = {(w.word, w.start_frame): w.display for w in transcript.words} if transcript else {}
        text = " ".join(display.get((w, s), w) for w, s, _ in span.words)
    return ClipRecord(
        clip_id=clip_id_for(video.video_id, video.content_hash, track.index, span.start_frame, span.end_frame),
        video_id=video.video_id,
        path=video.path,
        track=track.index,
        start_s=span.start_frame / FPS,
        end_s=(span.end_frame + 1) / FPS,
        start_frame=span.start_frame,
        end_frame=span.end_frame,
        gesture=normalise(frames.mean(0)),
        frames=frames.astype(np.float16),
        content=content,
        words=list(span.words),
        text=text,
    )


def _counted(chunks: Iterator[np.ndarray], progress: Progress) -> Iterator[np.ndarray]:
    for chunk in chunks:
        progress.frames(len(chunk))
        yield chunk


def _video_record(path: Path, digest: str, fingerprint: str) -> VideoRecord:
    stat = path.stat()
    try:
        info = probe(path)
        duration, fps = info.duration_s, info.source_fps
    except GestsearchError:
        duration, fps = 0.0, 0.0
    return VideoRecord(
        video_id=video_id_for(path), path=str(path), content_hash=digest, size_bytes=stat.st_size,
        mtime=stat.st_mtime, duration_s=duration, fps=fps, n_tracks=0, status="indexed", reason="",
        fingerprint=fingerprint,
    )


def _frame_estimate(path: Path) -> int:
    try:
        return probe(path).n_frames
    except GestsearchError:
        return 0


def _under(path: str, folder: Path) -> bool:
    return Path(path).is_relative_to(folder)


def _reason(error: GestsearchError) -> str:
    """The reason without the path (summaries list the path beside it)."""
    return getattr(error, "reason", None) or str(error)
