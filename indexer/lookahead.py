"""Speaker tracks of the next video, found while this one's frames are embedded.

Tracking a raw video (face detection on every frame) is the one pass over a video that model
compute did not overlap: on 2 cores it was a quarter of the indexing time, with GestSync idle.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from gestsearch.media import Track, speaker_tracks
from gestsearch.types import TrackMode


class TrackLookahead:
    """The speaker tracks of ``paths``, each found one video ahead in a background thread.

    Asked for video i's tracks, it starts video i+1's and returns video i's (found ahead, or here
    for the first). The tracks and errors are exactly :func:`speaker_tracks`'s; the caller meets
    an error when it asks for that video, as before. Leaving the block cancels the video in flight
    at its next frame, so an interrupted run does not wait for a long video's tracking.
    """

    def __init__(self, paths: list[Path], mode: TrackMode):
        self._following = dict(zip(paths, paths[1:]))
        self._mode = mode
        self._ahead: dict[Path, Future[list[Track]]] = {}
        self._cancel = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="gestsearch-tracks")

    def tracks(self, path: Path) -> list[Track]:
        found = self._ahead.pop(path, None)
        following = self._following.get(path)
        if following is not None and following not in self._ahead:
            self._ahead[following] = self._pool.submit(speaker_tracks, following, self._mode, cancel=self._cancel)
        return found.result() if found is not None else speaker_tracks(path, self._mode)

    def close(self) -> None:
        self._cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> TrackLookahead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
