"""The single-writer lock of an index directory (``fcntl.flock`` on ``write.lock``).

The kernel drops the lock when its holder exits, even on SIGKILL, so a crashed writer never
leaves a stale lock behind. Readers never lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gestsearch.errors import StoreError

LOCK_NAME = "write.lock"


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
