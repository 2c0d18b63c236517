"""`gestsearch index`: a folder of videos → speaker tracks → embeddings → the gesture store.

Incremental (a file is embedded again only when its content hash changed) and crash-safe
(each video is committed atomically by the store; a killed run is completed by re-running).
The per-video work is the library's (:func:`gestsearch.ingest.embed_video`); this module walks
the folder, decides what to embed, commits and reports progress.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from gestsearch.constants import VIDEO_EXTENSIONS
from gestsearch.embedding import Embedder
from gestsearch.errors import GestsearchError
from gestsearch.ingest import ClipPolicy, embed_video, video_record
from gestsearch.media import probe
from gestsearch.media.masking import PREFETCH_CHUNKS
from gestsearch.progress import Progress, ProgressEvent, Update, silent
from gestsearch.store import GestureStore, content_hash
from gestsearch.types import TrackMode

FILES_TASK, FRAMES_TASK = "files", "frames"


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


def find_videos(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively), sorted; hidden directories are skipped."""
    if folder.is_file():
        if folder.suffix.lower() not in VIDEO_EXTENSIONS:
            raise GestsearchError(f"{folder}: not a video (give a folder, or a file ending in {', '.join(VIDEO_EXTENSIONS)})")
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
    track_mode: TrackMode = "auto",
    policy: ClipPolicy = ClipPolicy(),
    chunk_frames: int = 64,
    asr_model: str | None = None,
    progress: Progress | None = None,
    prefetch: int = PREFETCH_CHUNKS,
) -> IndexSummary:
    """Index every video under ``folder`` into the index at ``db`` (created when missing).

    ``prefetch``: chunks of frames decoded and masked ahead of the models, in a background
    thread (0: in this thread; see :func:`gestsearch.media.iter_track_frames`).

    ``progress`` sees two tasks: :data:`FILES_TASK` (files done, the current name as info) and
    :data:`FRAMES_TASK` (frames embedded, of the frames the files to embed hold).
    """
    progress = progress or silent
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
        # frames to embed: the files' own counts until a file's speaker tracks are known
        estimates = {p: _frame_estimate(p) for p, _ in todo}
        progress(Update(FILES_TASK, 0, len(todo)))
        progress(Update(FRAMES_TASK, 0, sum(estimates.values()) or None))
        frames_done = 0
        for done, (path, digest) in enumerate(todo):
            progress(Update(FILES_TASK, done, len(todo), info=path.name))
            record = video_record(path, digest, embedder.info.fingerprint)

            def frames(event: ProgressEvent, base: int = frames_done, path: Path = path) -> None:
                estimates[path] = event.total or estimates[path]
                progress(Update(FRAMES_TASK, base + event.done, sum(estimates.values())))

            try:
                result = embed_video(path, record, embedder, track_mode, policy, chunk_frames, asr_model, frames, prefetch)
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
            frames_done += estimates[path]  # the file's tracks, or its estimate when it failed
            progress(Update(FRAMES_TASK, frames_done, sum(estimates.values())))
            progress(Update(FILES_TASK, done + 1, len(todo), info=path.name))
        if prune:
            present = {str(p) for p in videos}
            gone = [v.path for v in store.videos() if _under(v.path, folder) and v.path not in present]
            store.remove_videos(gone)
            summary.removed = gone
        store.optimize()  # compacts the per-video fragments and refreshes the FAISS sidecar
    return summary


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
