"""The export folder's manifest: which files the last export wrote, so the next one can replace them.

:func:`~gestsearch.export.registry.export_results` keeps ``.gestsearch-export.json`` in the
folder it writes to::

    {"schema": "gestsearch.export/1", "files": ["001_talk_0.mp4", "results.json", ...]}

``files`` are the names of the files written, relative to the folder. An export into a folder
first removes exactly the files its manifest lists, then writes its own, recording each in the
manifest as soon as it is written (so an export that fails half-way is still cleaned up by the
next one). Files the manifest does not list, e.g. the user's own, are never touched; neither is
a listed name that would lead out of the folder. A folder exported to before manifests existed
has none: its files stay.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from gestsearch import atomic

MANIFEST_NAME = ".gestsearch-export.json"
MANIFEST_SCHEMA = "gestsearch.export/1"


def read_manifest(out_dir: Path) -> list[str]:
    """The file names the folder's manifest lists; none when it has no (readable) manifest."""
    try:
        doc = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA or not isinstance(doc.get("files"), list):
        return []
    return [name for name in doc["files"] if isinstance(name, str)]


def write_manifest(out_dir: Path, files: Iterable[Path | str]) -> Path:
    """Record ``files`` (inside ``out_dir``) as the folder's export, atomically."""
    names = list(dict.fromkeys(_name(out_dir, f) for f in files))
    return atomic.write_json(out_dir / MANIFEST_NAME, {"schema": MANIFEST_SCHEMA, "files": names})


def remove_previous_export(out_dir: Path) -> list[Path]:
    """Delete the files the folder's manifest lists (those still there) and return them.

    Only plain files inside ``out_dir`` are removed: names that are absolute, climb out with
    ``..``, name the manifest itself or a folder are skipped.
    """
    removed = []
    for name in read_manifest(out_dir):
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts or name == MANIFEST_NAME:
            continue
        path = out_dir.joinpath(*parts)
        if path.is_symlink() or path.is_file():
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
    return removed


def _name(out_dir: Path, path: Path | str) -> str:
    return PurePosixPath(*Path(os.path.relpath(Path(path), out_dir)).parts).as_posix()
