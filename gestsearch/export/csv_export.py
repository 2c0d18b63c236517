"""``results.csv``: every hit and word-peak annotation, importable in ELAN and easy in pandas/R."""

from __future__ import annotations

import csv
from pathlib import Path

from gestsearch.atomic import atomic_path
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.tiers import annotations, by_video
from gestsearch.results import SearchResult

CSV_COLUMNS = ("tier", "begin_ms", "end_ms", "value", "score", "rank", "clip_id", "video_path")


def write_csv(result: SearchResult, path: Path | str) -> Path:
    """All annotations as CSV (:data:`CSV_COLUMNS`), importable in ELAN and easy in pandas/R."""
    path = Path(path)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for hits in by_video(result.hits).values():
            for a in annotations(result.query, hits):
                h = a.hit
                score = f"{h.score:.6f}"
                writer.writerow([a.tier, a.begin_ms, a.end_ms, a.value, score, h.rank, h.clip_id, h.video_path])
    return path


class CsvExporter(Exporter):
    """``results.csv`` (:func:`write_csv`)."""

    name = "csv"
    order = 3

    def write(self, result: SearchResult, out_dir: Path, score_maps: ScoreMaps = None) -> list[Path]:
        return [write_csv(result, out_dir / "results.csv")]
