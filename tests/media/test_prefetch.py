"""Decoding and masking in a background thread: same frames, same errors, bounded, no leaked threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext

import numpy as np
import pytest

from gestsearch.errors import MediaError
from gestsearch.media import Track, iter_track_frames, probe
from gestsearch.media.prefetch import THREAD_NAME, prefetched
from gestsearch.testing.media import pattern_frames, write_video


def producer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


class Source:
    """Counts the items it made and whether it was closed (in which thread)."""

    def __init__(self, n: int, fail_at: int | None = None):
        self.n, self.fail_at = n, fail_at
        self.made = 0
        self.closed_in: str | None = None

    def __call__(self) -> Iterator[int]:
        try:
            for k in range(self.n):
                if k == self.fail_at:
                    raise ValueError(f"item {k} is broken")
                self.made += 1
                yield k
        finally:
            self.closed_in = threading.current_thread().name


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("prefetch") / "clip.mp4"
    return str(write_video(path, pattern_frames(90, 160, 120)))


def test_items_come_in_order_and_the_producer_ends():
    source = Source(50)
    assert list(prefetched(source, depth=2)) == list(range(50))
    assert source.closed_in == THREAD_NAME
    assert producer_threads() == []


@pytest.mark.parametrize("depth", [1, 3])
def test_the_producer_stays_at_most_depth_plus_one_ahead(depth):
    source = Source(40)
    for consumed, _ in enumerate(prefetched(source, depth), 1):
        # depth items queued, one more made and waiting for room: never more, however slow the consumer
        assert source.made - consumed <= depth + 1


def test_producer_error_reaches_the_consumer_unchanged():
    source = Source(10, fail_at=3)
    got = []
    with pytest.raises(ValueError, match="item 3 is broken") as raised:
        for item in prefetched(source):
            got.append(item)
    assert got == [0, 1, 2]
    assert any(frame.name == "__call__" for frame in raised.traceback)  # the producer's own frames
    assert producer_threads() == []


@pytest.mark.parametrize("how", ["break", "consumer error"])
def test_stopping_early_stops_and_closes_the_producer(how):
    source = Source(10_000)
    with pytest.raises(RuntimeError) if how == "consumer error" else nullcontext():
        for item in prefetched(source, depth=2):
            if item == 5:
                if how == "break":
                    break
                raise RuntimeError("the model failed")
    assert producer_threads() == []
    assert source.closed_in == THREAD_NAME
    assert source.made <= 5 + 1 + 2 + 1


def test_masked_frames_are_the_same_with_and_without_the_thread(video):
    track = Track(0, 3, probe(video).n_frames, None)
    inline = list(iter_track_frames(video, track, chunk_frames=16, prefetch=0))
    threaded = list(iter_track_frames(video, track, chunk_frames=16))
    assert [len(c) for c in threaded] == [len(c) for c in inline] == [16] * 5 + [7]
    for a, b in zip(inline, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
    assert producer_threads() == []


def test_breaking_out_of_the_frames_leaves_no_thread(video):
    track = Track(0, 0, probe(video).n_frames, None)
    for _ in iter_track_frames(video, track, chunk_frames=8):
        break
    assert producer_threads() == []


def test_media_errors_keep_their_type_through_the_thread(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="broken.mp4"):
        next(iter_track_frames(bad, Track(0, 0, 10, None)))
    assert producer_threads() == []


@pytest.mark.parametrize("device, threads, expected", [("cpu", "all", 0), ("cpu", 1, "ahead"), ("cuda:0", "all", "ahead")])
def test_frames_are_read_ahead_only_with_a_core_to_spare(device, threads, expected):
    """On 2 idle cores, a background decoder beside models on both cores made indexing slower."""
    from types import SimpleNamespace

    from gestsearch import runtime
    from gestsearch.ingest.video import default_prefetch
    from gestsearch.media.masking import PREFETCH_CHUNKS

    cores = runtime.usable_cores()
    if threads == 1 and cores == 1:
        pytest.skip("one core: nothing to spare")
    embedder = SimpleNamespace(device=device, threads=cores if threads == "all" else threads)
    assert default_prefetch(embedder) == (PREFETCH_CHUNKS if expected == "ahead" else 0)
