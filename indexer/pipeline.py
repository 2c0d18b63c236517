"""`gestsearch index`: a folder of videos → speaker tracks → embeddings → the gesture store.

Incremental (a file is embedded again only when its content hash changed) and crash-safe
(each video is committed atomically by the store; a killed run is completed by re-running).
The per-video work is the library's (:func:`gestsearch.ingest.embed_video`); this module walks
the folder, decides what to embed, commits and reports progress. :class:`IndexRun` is that
bookkeeping alone: the Ray path (indexer/distributed.py) embeds elsewhere and commits through it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gestsearch.constants import VIDEO_EXTENSIONS
from gestsearch.embedding import Embedder, ModelInfo
from gestsearch.errors import ConfigError, GestsearchError
from gestsearch.ingest import ClipPolicy, VideoClips, embed_video, video_record
from gestsearch.media import Track, probe
from gestsearch.progress import Progress, ProgressEvent, Update, silent
from gestsearch.runtime import usable_cores
from gestsearch.store import GestureStore, VideoRecord, content_hash, video_id_for
from gestsearch.types import TrackMode
from indexer.lookahead import TrackLookahead
from indexer.sources import RemoteStat, fetched, find_sources, is_remote, remote_stat

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


@dataclass(frozen=True)
class EmbedOptions:
    """How each video is embedded (the arguments of :func:`gestsearch.ingest.embed_video`)."""

    track_mode: TrackMode = "auto"
    policy: ClipPolicy = ClipPolicy()
    chunk_frames: int = 64
    asr_model: str | None = None
    prefetch: int | None = None  # None: gestsearch.ingest.video.default_prefetch


@dataclass(frozen=True)
class Pending:
    """A video to embed: new, changed, or failed last time. ``key`` names it in the index (an
    absolute path, or a URI); ``digest`` is a local file's content hash, ``remote`` the size and
    time of an object elsewhere (its hash is taken once it is fetched)."""

    key: str
    digest: str = ""
    remote: RemoteStat | None = None


class IndexRun:
    """One pass over the videos of a folder or list, holding the index's writer lock: what is to
    be embedded, and the commits. The sequential and the Ray paths both index through it, so the
    change detection and the one commit protocol (the store's) are the same for both."""

    def __init__(self, store: GestureStore, target: Path, keys: list[str], summary: IndexSummary):
        self.store, self.target, self.keys, self.summary = store, target, keys, summary
        self.todo = self._plan()

    def _plan(self) -> list[Pending]:
        """New or changed videos (content hash; size and time for objects elsewhere, which cannot
        be hashed without reading them all), and those that failed before. Unchanged ones go to
        ``skipped``, unreadable ones to ``failed`` (not recorded: there is nothing to record)."""
        todo: list[Pending] = []
        for key in self.keys:
            known = self.store.video_by_path(key)
            try:
                if is_remote(key):
                    stat = remote_stat(key)
                    pending = Pending(key, remote=stat)
                    same = known is not None and (known.size_bytes, known.mtime) == (stat.size, stat.mtime)
                else:
                    pending = Pending(key, content_hash(key))
                    same = known is not None and known.content_hash == pending.digest
            except GestsearchError as e:
                self.summary.failed.append({"path": key, "reason": _reason(e)})
                continue
            if same and known.status == "indexed":
                self.summary.skipped.append(key)
            else:
                todo.append(pending)
        return todo

    def commit(self, record: VideoRecord, clips: VideoClips | None) -> None:
        """Store one embedded video (``clips`` None: it failed, ``record`` says why)."""
        if clips is None:
            self.store.record_failure(record)
            self.summary.failed.append({"path": record.path, "reason": record.reason})
            return
        self.store.add_video(record, clips.clips)
        self.summary.indexed.append(record.path)
        self.summary.clips += len(clips.clips)
        self.summary.frames += clips.frames
        self.summary.notes.extend(clips.notes)

    def finish(self, prune: bool) -> None:
        """The end of a run that did not fail: with ``prune``, remove the videos of the folder
        that are gone from it; then optimize."""
        if prune:
            present = set(self.keys)
            gone = [v.path for v in self.store.videos() if _under(v.path, self.target) and v.path not in present]
            self.store.remove_videos(gone)
            self.summary.removed = gone
        self.store.optimize()  # compacts the per-video fragments and refreshes the FAISS sidecar


@contextmanager
def index_run(target: Path, db: Path, model: ModelInfo, prune: bool = False) -> Iterator[IndexRun]:
    """Open (or create) the index at ``db`` for the videos ``target`` names (a folder, a video,
    or a list: :func:`indexer.sources.find_sources`) and plan the run; when the block ends
    without an error, prune (with ``prune``) and optimize."""
    target = target.resolve()
    keys = find_sources(target)
    if prune and not target.is_dir() and target.suffix.lower() not in VIDEO_EXTENSIONS:
        raise ConfigError(f"--prune needs a folder: {target} is a list, and names no folder to compare the index with")
    summary = IndexSummary(str(db), model.name, model.fingerprint)
    with GestureStore.open(db, fingerprint=model.fingerprint, create=True) as store:
        run = IndexRun(store, target, keys, summary)
        yield run
        run.finish(prune)


def embed_pending(
    item: Pending, embedder: Embedder, options: EmbedOptions, progress: Progress | None = None,
    tracks: Callable[[], list[Track]] | None = None,
) -> tuple[VideoRecord, VideoClips | None]:
    """Embed one video (an object elsewhere is fetched first): its record and its clips, or its
    record with status "failed" (and the reason) and None. ``tracks``: a local video's speaker
    tracks, found elsewhere (:class:`indexer.lookahead.TrackLookahead`)."""
    fingerprint = embedder.info.fingerprint
    if item.remote is None:
        record = video_record(Path(item.key), item.digest, fingerprint)
        return _embed(Path(item.key), record, embedder, options, progress, tracks)
    try:
        with fetched(item.key) as local:
            record = video_record(local, content_hash(local), fingerprint, key=item.key)
            record.size_bytes, record.mtime = item.remote.size, item.remote.mtime  # the object's, to compare next time
            return _embed(local, record, embedder, options, progress)
    except GestsearchError as e:  # the object could not be fetched
        record = VideoRecord(
            video_id=video_id_for(item.key), path=item.key, content_hash="", size_bytes=item.remote.size,
            mtime=item.remote.mtime, duration_s=0.0, fps=0.0, n_tracks=0, status="failed", reason=_reason(e),
            fingerprint=fingerprint,
        )
        return record, None


def _embed(
    path: Path, record: VideoRecord, embedder: Embedder, options: EmbedOptions, progress: Progress | None,
    tracks: Callable[[], list[Track]] | None = None,
) -> tuple[VideoRecord, VideoClips | None]:
    try:
        result = embed_video(path, record, embedder, options.track_mode, options.policy, options.chunk_frames,
                             options.asr_model, progress, options.prefetch, tracks)
    except GestsearchError as e:
        record.status, record.reason = "failed", _reason(e)
        return record, None
    record.n_tracks = result.n_tracks
    return record, result


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
    prefetch: int | None = None,
    lookahead: bool | None = None,
) -> IndexSummary:
    """Index every video under ``folder`` into the index at ``db`` (created when missing).

    ``folder`` may also be one video, or a text file listing videos (paths and URIs, see
    :mod:`indexer.sources`). ``prefetch``: chunks of frames decoded and masked ahead of the
    models, in a background thread (0: in this thread; None: when a core is left for it, see
    :func:`gestsearch.ingest.video.default_prefetch`). ``lookahead``: find the next local video's
    speaker tracks while this one embeds (:class:`indexer.lookahead.TrackLookahead`; None: when
    two cores or more are usable).

    ``progress`` sees two tasks: :data:`FILES_TASK` (files done, the current name as info) and
    :data:`FRAMES_TASK` (frames embedded, of the frames the files to embed hold).
    """
    progress = progress or silent
    options = EmbedOptions(track_mode, policy, chunk_frames, asr_model, prefetch)
    lookahead = usable_cores() >= 2 if lookahead is None else lookahead
    with index_run(folder, db, embedder.info, prune) as run, ExitStack() as stack:
        todo = run.todo
        local = [Path(item.key) for item in todo if item.remote is None]
        ahead = stack.enter_context(TrackLookahead(local, track_mode)) if lookahead else None
        # frames to embed: the files' own counts until a file's speaker tracks are known
        estimates = {item.key: frame_estimate(item) for item in todo}
        progress(Update(FILES_TASK, 0, len(todo)))
        progress(Update(FRAMES_TASK, 0, sum(estimates.values()) or None))
        frames_done = 0
        for done, item in enumerate(todo):
            name = display_name(item.key)
            progress(Update(FILES_TASK, done, len(todo), info=name))

            def frames(event: ProgressEvent, base: int = frames_done, key: str = item.key) -> None:
                estimates[key] = event.total or estimates[key]
                progress(Update(FRAMES_TASK, base + event.done, sum(estimates.values())))

            tracks = functools.partial(ahead.tracks, Path(item.key)) if ahead and item.remote is None else None
            run.commit(*embed_pending(item, embedder, options, frames, tracks))
            frames_done += estimates[item.key]  # the file's tracks, or its estimate when it failed
            progress(Update(FRAMES_TASK, frames_done, sum(estimates.values())))
            progress(Update(FILES_TASK, done + 1, len(todo), info=name))
    return run.summary


def frame_estimate(item: Pending) -> int:
    """Frames of a video to embed, before its tracks are known (0 for an object elsewhere, not fetched yet)."""
    if item.remote is not None:
        return 0
    try:
        return probe(Path(item.key)).n_frames
    except GestsearchError:
        return 0


def display_name(key: str) -> str:
    """The file name of a path or URI, for progress lines."""
    return key.rstrip("/").rsplit("/", 1)[-1]


def _under(path: str, folder: Path) -> bool:
    return not is_remote(path) and Path(path).is_relative_to(folder)


def _reason(error: GestsearchError) -> str:
    """The reason without the path (summaries list the path beside it)."""
    return getattr(error, "reason", None) or str(error)
