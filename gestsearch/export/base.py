"""The interface every export format implements; :mod:`gestsearch.export.registry` lists them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from gestsearch.results import SearchResult

ScoreMaps = Mapping[str, np.ndarray] | None  # clip id → (W, T) word × frame scores


class Exporter(ABC):
    """One export format: writes the files of a :class:`SearchResult` into a folder.

    ``name`` is what users pass as a format. A ``per_hit`` exporter writes files of its own per
    hit; :func:`~gestsearch.export.registry.export_results` runs those first, hit by hit with a
    one-hit result each, so a hit's files are written together, then the others. ``order`` sorts
    exporters within each of those two groups (lower first): it fixes the order files are
    written and listed in, which callers see.
    """

    name: ClassVar[str]
    order: ClassVar[int]
    per_hit: ClassVar[bool] = False

    @abstractmethod
    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        """Write this format's files for ``result`` into the existing folder ``out_dir``; return them.

        ``score_maps``: clip id → (W, T) word × clip-frame scores (25 fps), rows in the order of
        ``hit.peaks``, for the exporters that draw them.
        """
