"""The few calls a Python user needs, also reachable as ``gestsearch.<name>``.

>>> import gestsearch
>>> models = gestsearch.load_models()          # configured checkpoints, else the bundled tiny model
>>> with gestsearch.open_index("archive.lance", models) as index:
...     searcher = gestsearch.Searcher(index, models)
...     result = searcher.search(searcher.text_query("take a walk"), k=5).result
>>> [(hit.video_path, hit.span_start_s, hit.span_end_s) for hit in result.hits]

Indexing a folder is the collection pipeline's job (``from indexer import index_folder``); the
library turns one video into index records with :func:`gestsearch.ingest.embed_video`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gestsearch.config import Settings

if TYPE_CHECKING:  # imported by the calls: opening an index needs no torch, loading models no LanceDB
    from gestsearch.embedding import Embedder
    from gestsearch.store import GestureStore


def load_models(settings: Settings | None = None, **overrides: object) -> Embedder:
    """GestSync + JEGAL as configured (config file, ``GESTSEARCH_*`` environment, ``overrides`` such as
    ``gestsync=``, ``jegal=``, ``device=``); without checkpoints, the bundled tiny demo model.

    >>> models = load_models(gestsync="gestsync.pth", jegal="jegal.pth", device="cpu")
    >>> models.info.fingerprint
    """
    from gestsearch.embedding import Embedder

    return Embedder.from_settings(settings or Settings.load(**overrides))


def open_index(path: str | Path, models: Embedder | None = None, read_only: bool = True) -> GestureStore:
    """The gesture index at ``path``. With ``models``, refuses an index built with other checkpoints
    (:class:`~gestsearch.errors.FingerprintMismatch`). Use it as a context manager.

    >>> with open_index("archive.lance") as index:
    ...     index.info().clips
    """
    from gestsearch.store import GestureStore

    fingerprint = models.info.fingerprint if models is not None else None
    return GestureStore.open(path, fingerprint=fingerprint, read_only=read_only)
