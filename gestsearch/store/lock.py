"""The locks of an index directory (``fcntl.flock``): ``write.lock``, held by the one writer, and
``read.lock``, held shared by readers during each read so that the writer removes old table
versions only when no reader can still need them.

The kernel drops a lock when its holder exits, even on SIGKILL, so a crashed process never
leaves a stale lock behind. Readers never wait for the writer, except while it removes versions.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gestsearch.errors import StoreError

LOCK_NAME = "write.lock"
READ_LOCK_NAME = "read.lock"


class WriterLock:
    """Exclusive lock held by the one process allowed to write an index."""

    def __init__(self, fd: int):
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> WriterLock:
        """Lock ``directory`` for writing or raise StoreError naming the holder's pid."""
        path = directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"cannot create the lock file {path}: {e.strerror or e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"{directory}: index is being written by another process (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class ReadLocks:
    """The shared side of ``read.lock``: a reader holds it while it reads one table version, so
    the writer removes old versions only while no reader is inside a read (:func:`readers_away`).

    Holds nest (one object per thread, like the store). An index whose directory has no
    ``read.lock`` yet (made before it existed) is read without it; the writer then keeps old
    versions by age only.
    """

    def __init__(self, directory: Path):
        self._path = directory / READ_LOCK_NAME
        self._fd: int | None = None
        self._depth = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self._depth == 0 and self._open() is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # waits while the writer removes versions
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY)
            except FileNotFoundError:
                return None
        return self._fd


@contextmanager
def readers_away(directory: Path) -> Iterator[bool]:
    """Whether no reader is inside a read of the index at ``directory``; while True, new reads
    wait until the block ends (the writer removes old versions inside it)."""
    fd = os.open(directory / READ_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # drops the lock
