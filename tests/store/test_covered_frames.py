"""The "frames" figure of `index` and `info`: frames of video the clips hold, each counted once."""

from __future__ import annotations

import random

import numpy as np

from gestsearch.store import covered_frames


def _one_by_one(spans: list[tuple[str, int, int, int]]) -> int:
    """The count walked clip by clip: a frame counts once per (video, track)."""
    return len({(video, track, frame) for video, track, start, end in spans for frame in range(start, end + 1)})


def test_overlapping_windows_of_a_track_share_frames_and_tracks_and_videos_do_not():
    spans = [("a", 0, 0, 99), ("a", 0, 50, 149), ("a", 1, 0, 99), ("b", 0, 0, 99), ("a", 0, 300, 300)]
    assert covered_frames(*map(np.array, zip(*spans))) == 150 + 100 + 100 + 1
    assert covered_frames([], [], [], []) == 0


def test_random_clips_count_as_frame_by_frame():
    rng = random.Random(0)
    for _ in range(300):
        spans = []
        for _ in range(rng.randint(1, 25)):
            start = rng.randint(0, 200)
            spans.append((rng.choice("abc"), rng.randint(0, 2), start, start + rng.randint(0, 100)))
        assert covered_frames(*map(np.array, zip(*spans))) == _one_by_one(spans)
