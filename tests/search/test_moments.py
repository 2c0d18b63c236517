"""Overlapping clips of one speaker track are one moment: the best stands for them, once."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from gestsearch.search.engine import distinct_moments
from gestsearch.store import ClipSpans
from gestsearch.testing.store import synthetic_video


def _clips(starts_s: list[float], length_s: float = 4.0, path: str = "/a/v.mp4", track: int = 0):
    _, (template, *_) = synthetic_video(path, "fp", n_clips=1)
    return [replace(template, clip_id=i, track=track, start_s=s, end_s=s + length_s) for i, s in enumerate(starts_s)]


def test_overlapping_windows_of_a_track_merge_into_the_best():
    clips = _clips([0.0, 2.0, 4.0, 10.0])  # 4 s windows every 2 s, and one apart
    order = np.array([1, 0, 2, 3])  # the middle window scores best
    assert distinct_moments(order, ClipSpans.of(clips), k=2) == [(1, [0, 2]), (3, [])]


def test_k_distinct_moments_come_back_when_there_are_enough():
    clips = _clips([0.0, 2.0, 20.0, 22.0, 40.0])
    assert [best for best, _ in distinct_moments(np.arange(5), ClipSpans.of(clips), k=3)] == [0, 2, 4]


def test_other_tracks_and_videos_and_small_overlaps_stay_apart():
    same_time_other_track = _clips([0.0], track=1)[0]
    same_time_other_video = _clips([0.0], path="/a/w.mp4")[0]
    padded_neighbour = _clips([3.5])[0]  # shares 0.5 s of 4 s: two phrases, not one moment
    clips = [*_clips([0.0]), replace(same_time_other_track, clip_id=1), replace(same_time_other_video, clip_id=2),
             replace(padded_neighbour, clip_id=3)]
    assert distinct_moments(np.arange(4), ClipSpans.of(clips), k=10) == [(0, []), (1, []), (2, []), (3, [])]
