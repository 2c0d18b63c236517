"""The meta file of an index, and the making of a new index.

Directory layout of an index at PATH::

    PATH/gestsearch.json   fingerprint of the models that made the vectors, format, frame encoding, creation time
    PATH/videos.lance      one row per video file (indexed or failed)
    PATH/clips.lance       one row per clip: pooled vectors, words, text, where its frame vectors are
    PATH/frames/           per-frame vectors, one file per committed video (see framefiles.py; in
                           clips.lance before format 4)
    PATH/ann/              FAISS sidecar (see ann.py), rebuilt from the tables when missing or stale
    PATH/write.lock        held (flock) by the one writer
    PATH/read.lock         held shared (flock) by readers during each read (see lock.py)

The meta file is written last, so an index exists once it is there.
"""

from __future__ import annotations

import json
from pathlib import Path

import lancedb

from gestsearch.atomic import is_temporary, write_json
from gestsearch.constants import DIM
from gestsearch.errors import FingerprintMismatch, StoreError
from gestsearch.store.framefiles import FRAMES_DIR
from gestsearch.store.lock import LOCK_NAME, READ_LOCK_NAME
from gestsearch.store.records import now_iso
from gestsearch.store.schema import CLIPS, VIDEOS, VIDEOS_SCHEMA, clips_schema
from gestsearch.types import FRAME_ENCODINGS, FrameEncoding

META_NAME = "gestsearch.json"
FORMAT = 4  # new indexes: frame vectors in frame files (framefiles.py); 3: in the clips table, with speaking scores;
FORMATS = (1, 2, 3, 4)  # 2: the meta names the frame encoding (no scores); 1: float16 frames. All are still read and extended.
SPEAKING_FORMAT = 3  # the first format whose clips table has the speaking column
FRAME_FILES_FORMAT = 4  # the first format whose frame vectors are in frame files
ANN_DIR = "ann"


def no_index(path: Path) -> StoreError:
    """The error for a directory that holds no index."""
    return StoreError(f"no index at {path} (run `gestsearch index` first)")


def exists(path: Path) -> bool:
    """Whether ``path`` holds an index (its meta file)."""
    return (path / META_NAME).is_file()


def read_meta(path: Path) -> dict | None:
    """The meta of the index at ``path``, or None when there is none; StoreError when unusable."""
    try:
        meta = json.loads((path / META_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise StoreError(f"index at {path} is unreadable ({META_NAME}: {e})") from e
    if not isinstance(meta, dict) or meta.get("format") not in FORMATS or "fingerprint" not in meta:
        raise StoreError(f"{path} holds an index of an unknown format")
    if meta.setdefault("frames", "float16") not in FRAME_ENCODINGS:
        raise StoreError(f"{path} holds an index of an unknown format (frames {meta['frames']!r})")
    return meta


def check_new_index_place(path: Path) -> None:
    """Refuse to make an index in a folder that holds something else (before anything is written
    there, not even the writer's lock file), or over a file."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is a file, not an index folder; choose another --db")
    if exists(path) or not path.is_dir():
        return
    ours = {LOCK_NAME, READ_LOCK_NAME, f"{VIDEOS}.lance", f"{CLIPS}.lance", ANN_DIR, FRAMES_DIR}  # an index whose making was cut short
    leftovers = {p.name for p in path.iterdir() if not is_temporary(p)} - ours
    if leftovers:
        raise StoreError(f"{path} is not empty and not a gestsearch index; choose another --db")


def create_index(path: Path, fingerprint: str, frames: FrameEncoding) -> dict:
    """Make the tables, then write the meta file last (an index exists once it is there)."""
    check_new_index_place(path)
    db = lancedb.connect(path)
    db.create_table(VIDEOS, schema=VIDEOS_SCHEMA, exist_ok=True)
    db.create_table(CLIPS, schema=clips_schema(frames), exist_ok=True)
    meta = {"format": FORMAT, "fingerprint": fingerprint, "created_at": now_iso(), "dim": DIM, "frames": frames}
    write_json(path / META_NAME, meta, indent=1, durable=True)
    return meta


def open_meta(path: Path, fingerprint: str | None, create: bool, frames: FrameEncoding = "int8") -> dict:
    """The meta of the index at ``path``, made first (with ``frames`` encoding) when there is none and ``create``.

    Raises FingerprintMismatch when ``fingerprint`` (None: no check) is not the index's.
    """
    meta = read_meta(path)
    if meta is None:
        if not create:  # deleted since the caller saw it
            raise no_index(path)
        meta = create_index(path, fingerprint, frames)
    if fingerprint is not None and fingerprint != meta["fingerprint"]:
        raise FingerprintMismatch(
            f"index at {path} was built with model fingerprint {meta['fingerprint']}, but the models "
            f"in use have fingerprint {fingerprint}; use another --db or re-index with the same models"
        )
    return meta
