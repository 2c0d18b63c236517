"""``results.csv``: one row per hit, best first, for spreadsheets, pandas and R.

Columns (:data:`CSV_COLUMNS`), values as in ``results.json`` (:mod:`gestsearch.results`; times
in seconds of the source video, rounded to the millisecond, scores to 6 decimals):

- ``rank``, ``score``, ``video_path``, ``track``, ``clip_id``;
- ``clip_start_s``, ``clip_end_s``: the indexed clip; ``span_start_s``, ``span_end_s``: the
  gesture span inside it;
- ``word_peaks``: each query word at its peak, ``word@time_s`` joined by ``;`` in query order,
  e.g. ``take@12.12;walk@12.36``;
- ``text``: what is said in the clip;
- ``merged_start_s``, ``merged_end_s``: the span together with the clips merged into the hit,
  empty when none were;
- ``speaking``: the clip's speaking score, empty when it has none (one person in view).

The file is UTF-8; bytes of file names that are not UTF-8 show as ``\\xNN`` (``results.json``
keeps them exactly).
"""

from __future__ import annotations

import csv
from pathlib import Path

from gestsearch.atomic import atomic_path
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import file_text
from gestsearch.results import Hit, SearchResult

CSV_COLUMNS = (
    "rank",
    "score",
    "video_path",
    "track",
    "clip_id",
    "clip_start_s",
    "clip_end_s",
    "span_start_s",
    "span_end_s",
    "word_peaks",
    "text",
    "merged_start_s",
    "merged_end_s",
    "speaking",
)


def write_csv(result: SearchResult, path: Path | str) -> Path:
    """One row per hit (:data:`CSV_COLUMNS`, see the module docstring), best first."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(hit) for hit in result.hits)
    return path


def csv_row(hit: Hit) -> dict[str, object]:
    """The :data:`CSV_COLUMNS` of one hit."""
    d = hit.to_dict()  # rounded as in results.json
    row: dict[str, object] = {c: d[c] for c in CSV_COLUMNS if c in d}
    row["word_peaks"] = ";".join(f"{file_text(p['word'])}@{p['time_s']}" for p in d["peaks"])
    for column in ("video_path", "clip_id", "text"):
        row[column] = file_text(row[column])
    for column in ("merged_start_s", "merged_end_s", "speaking"):
        row[column] = "" if row[column] is None else row[column]
    return row


class CsvExporter(Exporter):
    """``results.csv`` (:func:`write_csv`)."""

    name = "csv"
    order = 3

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return [write_csv(result, out_dir / "results.csv")]
