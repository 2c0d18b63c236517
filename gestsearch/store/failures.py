"""What LanceDB, FAISS and the file system report about an index, in the index's own words.

LanceDB raises ``RuntimeError("lance error: …")`` for a full disk and for a data file that is
gone; both reach users through every store call, so the facade translates them in one place.
"""

from __future__ import annotations

import errno
import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gestsearch.errors import DiskFull, IndexDamaged, StoreError

F = TypeVar("F", bound=Callable[..., Any])

_NO_SPACE = "No space left on device"
_WRAPPERS = re.compile(r"LanceError\(\w+\): |Generic \S+ error: |Wrapped error: ")
_REPEATED = re.compile(r"(Not found: )+")
# a data file deleted, truncated or garbled (full disks are told apart first)
_DAMAGED = ("Not found", "No such file or directory", "LanceError(IO)", "failed to fill whole buffer", "Corrupt", "corrupt")


@contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Re-raise a full disk as :class:`DiskFull` and a missing or unreadable data file as
    :class:`IndexDamaged`, each naming the index; anything else passes unchanged."""
    try:
        yield
    except StoreError:
        raise
    except (RuntimeError, OSError) as e:
        text = str(e)
        if getattr(e, "errno", None) == errno.ENOSPC or _NO_SPACE in text:
            raise DiskFull(
                f"index at {path}: the disk is full (no space left on device); the index keeps its last "
                "complete state: free some space and run the command again"
            ) from e
        if isinstance(e, RuntimeError) and text.startswith("lance error") and any(m in text for m in _DAMAGED):
            raise index_damaged(path, lance_message(text)) from e
        raise


def index_damaged(path: Path, what: str) -> IndexDamaged:
    """The error for damage (``what``) found in the index at ``path``, pointing at ``repair``."""
    return IndexDamaged(f"index at {path} is damaged: {what}; run `gestsearch repair --db {path}`")


def guarded(method: F) -> F:
    """Run a method of an object with a ``path`` (the index) under :func:`storage_errors`."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with storage_errors(self.path):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def lance_message(error: BaseException | str) -> str:
    """An error's first line without LanceDB's wrappers and Rust source location
    (``lance error: LanceError(IO): Generic N/A error: Wrapped error: Not found: …, /root/…rs:1:2``)."""
    text = str(error)
    text = (text.splitlines() or [type(error).__name__])[0].split(", /")[0]
    text = _WRAPPERS.sub("", text.removeprefix("lance error: "))
    return _REPEATED.sub(r"\1", text)
