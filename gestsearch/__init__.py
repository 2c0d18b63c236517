"""gestsearch: find the moments where a speaker gestures a word or phrase.

Built on JEGAL (ICCV 2025) with the GestSync (BMVC 2023) visual trunk.

>>> import gestsearch
>>> models = gestsearch.load_models()          # configured checkpoints, else the bundled tiny model
>>> with gestsearch.open_index("archive.lance", models) as index:
...     searcher = gestsearch.Searcher(index, models)
...     hits = searcher.search(searcher.text_query("take a walk"), k=5).result.hits

The names below load on first use, so ``import gestsearch`` stays cheap (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_ENTRY_POINTS = {
    "load_models": "gestsearch.api",  # GestSync + JEGAL as configured
    "open_index": "gestsearch.api",  # a gesture index on disk
    "Searcher": "gestsearch.search",  # text / speech / gesture queries over an index
    "embed_video": "gestsearch.ingest",  # one video → index records
    "load_gestsync": "gestsearch.models",  # an official checkpoint, loaded exactly
    "load_jegal": "gestsearch.models",
    "Settings": "gestsearch.config",
    "SearchResult": "gestsearch.results",
    "Hit": "gestsearch.results",
    "ClipFilter": "gestsearch.search",  # which clips a search may return
    "Client": "gestsearch.client",  # the API of a `gestsearch serve` server
    "create_app": "gestsearch.serve",  # the service as an ASGI app
}
__all__ = ["__version__", *_ENTRY_POINTS]


def __getattr__(name: str) -> Any:
    if name not in _ENTRY_POINTS:
        raise AttributeError(f"module 'gestsearch' has no attribute {name!r}")
    return getattr(importlib.import_module(_ENTRY_POINTS[name]), name)
