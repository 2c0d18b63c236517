"""The indexer finds the next video's speaker tracks while this one embeds: the same tracks, the
same errors and the same index as finding them in turn, and leaving stops the one in flight."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from gestsearch.errors import Cancelled, MediaError
from gestsearch.media import speaker_tracks
from gestsearch.store import GestureStore
from indexer.lookahead import TrackLookahead
from indexer.pipeline import index_folder

pytestmark = pytest.mark.slow  # real media, face detection on every frame


@pytest.fixture
def videos(shared_data, tmp_path) -> list[Path]:
    """Two raw multi-person videos with a broken file between them."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("asd_sample_2.mp4", "sync_sample_3.mp4"):
        shutil.copy(shared_data / "gestsync_samples" / name, folder)
    (folder / "b_broken.mp4").write_bytes(b"not a video at all")
    return [folder / "asd_sample_2.mp4", folder / "b_broken.mp4", folder / "sync_sample_3.mp4"]


def test_tracks_and_errors_are_those_of_speaker_tracks(videos):
    first, broken, last = videos
    with pytest.raises(MediaError) as direct:
        speaker_tracks(broken, "raw")
    with TrackLookahead(videos, "raw") as ahead:
        assert ahead.tracks(first) == speaker_tracks(first, "raw")
        with pytest.raises(MediaError) as found_ahead:
            ahead.tracks(broken)  # found while the first was being asked for, raised now
        assert str(found_ahead.value) == str(direct.value)
        assert ahead.tracks(last) == speaker_tracks(last, "raw")


def test_a_cancelled_pass_stops_with_cancelled(videos):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        speaker_tracks(videos[0], "raw", cancel=stop)


def test_leaving_the_block_stops_the_video_in_flight(videos):
    first, broken, _ = videos
    with TrackLookahead([broken, first], "raw") as ahead:
        with pytest.raises(MediaError):
            ahead.tracks(broken)  # fails at once, with the next video's tracking started behind it
        in_flight = ahead._ahead[first]
    assert in_flight.done()
    assert isinstance(in_flight.exception(), Cancelled) or in_flight.result() == speaker_tracks(first, "raw")
    assert not any(t.name.startswith("gestsearch-tracks") for t in threading.enumerate())


def test_the_index_is_the_one_made_without_lookahead(videos, embedder, tmp_path):
    folder = videos[0].parent
    summaries = {ahead: index_folder(folder, embedder, tmp_path / f"db_{ahead}", track_mode="raw", lookahead=ahead)
                 for ahead in (True, False)}
    assert [s.failed[0]["reason"] for s in summaries.values()] == [summaries[False].failed[0]["reason"]] * 2
    assert summaries[True].indexed == summaries[False].indexed and len(summaries[True].indexed) == 2
    clips = {}
    for ahead in (True, False):
        with GestureStore.open(tmp_path / f"db_{ahead}", read_only=True) as store:
            clips[ahead] = sorted(store.iter_clips(), key=lambda c: c.clip_id)
    assert [c.clip_id for c in clips[True]] == [c.clip_id for c in clips[False]] and clips[True]
    for a, b in zip(clips[True], clips[False]):
        np.testing.assert_array_equal(a.frames, b.frames)
