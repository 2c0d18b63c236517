"""Producing items in a background thread while the caller works on the previous ones.

Decoding and face masking (PyAV, OpenCV, MediaPipe) release the GIL for most of their work,
as does torch, so a producer thread overlaps them with model compute. The queue is bounded,
so memory stays at ``depth`` items plus the one being made and the one the caller holds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from typing import TypeVar

T = TypeVar("T")

THREAD_NAME = "gestsearch-prefetch"
_POLL_S = 0.05


class _Done:
    """Sent after the producer's last item."""


class _Failed:
    """Carries the producer's exception to the consumer, which raises it as it is."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(make: Callable[[], Iterator[T]], depth: int = 1) -> Iterator[T]:
    """Yield the items of ``make()``, which runs in a background thread, at most ``depth`` ahead.

    The iterator is created, advanced and closed in that thread (a MediaPipe graph or an open
    container stays on one thread). An exception in the producer is raised here unchanged,
    with its traceback. When the caller stops early (``break``, an exception, ``close()``),
    the producer is told to stop, finishes the item it is making, closes its iterator, and
    the thread has ended before this generator returns.
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            with closing(make()) as source:
                for item in source:
                    items.put(item)
                    if stop.is_set():
                        return
        except BaseException as error:  # the consumer raises it, whatever it is
            items.put(_Failed(error))
        else:
            items.put(_Done())

    thread = threading.Thread(target=produce, name=THREAD_NAME, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
            del item  # do not keep the last item alive while the next one is awaited
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting for room, drop what it made
            with suppress(queue.Empty):
                items.get(timeout=_POLL_S)
        thread.join()
