"""The commit protocol of the one writer of an index.

Crash safety: every LanceDB write is one atomic commit. ``add_video`` appends the clips with a
fresh ``write_id``, then upserts the video row carrying that write_id (the commit point), then
deletes the clips of the replaced version. Readers only see clips whose write_id is the one of an
indexed video row (see snapshot.py), so a kill at any moment shows the whole video or none of it
(the previous version while it is being replaced); a writer's ``open`` deletes the invisible
leftovers.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import lancedb
import pyarrow.compute as pc
from lancedb.index import BTree, IvfPq

from gestsearch.constants import DIM
from gestsearch.errors import FingerprintMismatch
from gestsearch.store.framefiles import FrameFiles
from gestsearch.store.lock import WriterLock, readers_away
from gestsearch.store.records import ClipRecord, VideoRecord, video_id_for
from gestsearch.store.schema import clips_table, frames_in_files, has_speaking, pack_frames, sql_str, video_table
from gestsearch.types import COLUMNS, VideoStatus

COMPACT_VIDEOS_EVERY = 50  # commits


class IndexWriter:
    """Writes of one index, by the process holding its ``WriterLock`` (released by ``close``)."""

    def __init__(
        self,
        path: Path,
        fingerprint: str,
        videos: lancedb.table.Table,
        clips: lancedb.table.Table,
        lock: WriterLock,
        frame_files: FrameFiles,
    ):
        self._path = path
        self._fingerprint = fingerprint
        self._videos = videos
        self._clips = clips
        self._lock = lock
        self._frame_files = frame_files
        self._in_files = frames_in_files(clips.schema.names)  # False in tables made before frame files
        self._speaking = has_speaking(clips.schema.names)  # False in tables made before the scores
        self._commits = 0

    def close(self) -> None:
        self._lock.release()

    def add_video(self, video: VideoRecord, clips: list[ClipRecord]) -> None:
        """Commit an indexed video with its clips (see ``GestureStore.add_video``)."""
        self._check_video(video, "indexed")
        for clip in clips:
            if clip.video_id != video.video_id:
                raise ValueError(f"clip {clip.clip_id} belongs to video {clip.video_id}, not {video.video_id}")
        if len({c.clip_id for c in clips}) != len(clips):
            raise ValueError(f"duplicate clip ids in {video.path}")
        self._commit(video, clips)

    def record_failure(self, video: VideoRecord) -> None:
        """Commit a failed video, dropping the clips of an earlier indexed version."""
        self._check_video(video, "failed")
        if not video.reason:
            raise ValueError("a failed video needs a reason")
        self._commit(video, [])

    def remove_videos(self, paths: Iterable[str | Path]) -> int:
        """Remove the videos at ``paths`` and their clips; returns how many existed."""
        ids = ",".join(sql_str(video_id_for(p)) for p in paths)
        if not ids:
            return 0
        removed = self._videos.delete(f"video_id IN ({ids})").num_deleted_rows  # commit point
        self._clips.delete(f"video_id IN ({ids})")
        return removed

    def delete_invisible_clips(self) -> None:
        """Delete clip rows no video row commits (left by a killed writer)."""
        committed = self._videos.search().select(["write_id"]).to_arrow().column("write_id")
        present = pc.unique(self._clips.search().select(["write_id"]).to_arrow().column("write_id"))
        orphans = pc.filter(present, pc.invert(pc.is_in(present, value_set=committed)))
        if len(orphans):
            self._clips.delete(f"write_id IN ({','.join(map(str, orphans.to_pylist()))})")

    def optimize(self, lance_index_min: int, keep_versions: timedelta) -> None:
        """Compact both tables, index the clips' video ids, build LanceDB's vector indexes once there are
        ``lance_index_min`` clips, and drop old table versions: all of them when no reader is
        inside a read (lock.py), else those older than ``keep_versions``. Frame files no clip row
        names any more go only in the first case (framefiles.py)."""
        for table in (self._videos, self._clips):
            # delete_unverified: no write can be in progress, this process holds the write lock
            table.optimize(cleanup_older_than=keep_versions, delete_unverified=True)
        indexed = {column for index in self._clips.list_indices() for column in index.columns}
        if "video_id" not in indexed:  # a video's clips: browsing, replacing and removing videos
            self._clips.create_index("video_id", config=BTree())
        if self._clips.count_rows() >= lance_index_min:
            for column in COLUMNS:
                if column not in indexed:
                    self._clips.create_index(column, config=IvfPq(distance_type="cosine", num_sub_vectors=DIM // 8))
        with readers_away(self._path) as away, warnings.catch_warnings():
            # LanceDB warns that readers of old versions would fail: the lock shows there are none
            warnings.filterwarnings("ignore", "optimize.cleanup_older_than=0", UserWarning)
            if away:
                for table in (self._videos, self._clips):  # nothing left to compact: this only cleans up
                    table.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
                used = self._clips.search().select(["write_id"]).to_arrow().column("write_id")
                self._frame_files.remove_unused(pc.unique(used).to_pylist())

    def _commit(self, video: VideoRecord, clips: list[ClipRecord]) -> None:
        write_id = secrets.randbits(63)
        if clips:
            frames = pack_frames(clips, self._frame_files.encoding)
            # the file first: the rows that point into it are only added once it is whole
            offsets = self._frame_files.write(write_id, frames) if self._in_files else None
            self._clips.add(clips_table(clips, write_id, frames, offsets, self._speaking))  # invisible until the video row below names write_id
        merged = (
            self._videos.merge_insert("video_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(video_table(video, write_id))
        )
        if merged.num_updated_rows:  # the clips of the replaced version
            self._clips.delete(f"video_id = {sql_str(video.video_id)} AND write_id != {write_id}")
        self._commits += 1
        if self._commits % COMPACT_VIDEOS_EVERY == 0:
            self._videos.optimize()  # one fragment per commit makes merge_insert scan ever more files

    def _check_video(self, video: VideoRecord, status: VideoStatus) -> None:
        if video.status != status:
            raise ValueError(f"{video.path}: status must be {status!r}, got {video.status!r}")
        if video.video_id != video_id_for(video.path):
            raise ValueError(f"{video.path}: video_id must be video_id_for(path)")
        if video.fingerprint != self._fingerprint:
            raise FingerprintMismatch(
                f"{video.path} was embedded with model fingerprint {video.fingerprint}, but the index at "
                f"{self._path} holds fingerprint {self._fingerprint}"
            )
