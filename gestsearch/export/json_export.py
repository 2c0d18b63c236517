"""``results.json``: the search result in its ``gestsearch.search/1`` schema."""

from __future__ import annotations

from pathlib import Path

from gestsearch import atomic
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.results import SearchResult


def write_json(result: SearchResult, path: Path | str) -> Path:
    """``result.to_dict()`` (schema ``gestsearch.search/1``) as indented UTF-8 JSON; file names that are
    not UTF-8 travel as ``\\udcNN`` escapes (:func:`gestsearch.text.json_text`)."""
    return atomic.write_json(path, result.to_dict())


class JsonExporter(Exporter):
    """``results.json`` (:func:`write_json`)."""

    name = "json"
    order = 2

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return [write_json(result, out_dir / "results.json")]
