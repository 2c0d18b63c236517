"""Atomic file writes: a file is either its old version or its complete new one, never half-written."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gestsearch.text import json_text

TMP_MARK = ".tmp"  # in the name of every temporary file: ``.<stem>.<random>.tmp<suffix>``


@contextmanager
def atomic_path(path: str | Path, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; it replaces ``path`` when the block ends.

    The temporary name keeps the suffix (``np.savez`` and ``torch.save`` callers rely on it) and
    starts with a dot. On an exception it is removed and ``path`` is left as it was. Parent
    folders are created. ``durable``: flush the new file to disk before the rename and the folder
    after it, for files a power cut must neither leave empty nor lose once written (the index's
    own files: a LanceDB commit may already name them).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}{TMP_MARK}{path.suffix}")
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` (left behind by a killed process)."""
    return path.name.startswith(".") and TMP_MARK in path.name


def write_bytes(path: str | Path, data: bytes, durable: bool = False) -> Path:
    """Write bytes atomically."""
    with atomic_path(path, durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str, durable: bool = False) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path, durable) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any, indent: int | None = 2, durable: bool = False) -> Path:
    """Write ``data`` as UTF-8 JSON atomically."""
    return write_text(path, json_text(data, indent), durable)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows cannot open a folder and needs no such step)."""
    if os.name == "nt":
        return
    _fsync(folder)
