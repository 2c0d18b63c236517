"""The export formats by name, and :func:`export_results`, which writes the chosen ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from gestsearch.errors import ConfigError
from gestsearch.export.base import Exporter, ScoreMaps
from gestsearch.export.csv_export import CsvExporter
from gestsearch.export.eaf import EafExporter
from gestsearch.export.heatmap import HeatmapExporter
from gestsearch.export.json_export import JsonExporter
from gestsearch.export.manifest import remove_previous_export, write_manifest
from gestsearch.export.mp4 import Mp4Exporter
from gestsearch.export.pose import PoseExporter
from gestsearch.export.vtt import VttExporter
from gestsearch.results import SearchResult

# Format name → exporter, in the order formats are offered to users.
EXPORTERS: dict[str, Exporter] = {
    e.name: e
    for e in (JsonExporter(), CsvExporter(), VttExporter(), EafExporter(), Mp4Exporter(), HeatmapExporter(), PoseExporter())
}
EXPORT_FORMATS = tuple(EXPORTERS)
DEFAULT_EXPORTS = ("json", "mp4", "heatmap")


def check_formats(formats: Iterable[str]) -> list[str]:
    """The formats, each once; a :class:`ConfigError` naming any that is not one of :data:`EXPORT_FORMATS`."""
    formats = list(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in EXPORTERS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {', '.join(unknown)}; choose from {', '.join(EXPORT_FORMATS)}")
    return formats


def export_dir(path: Path | str) -> Path:
    """The export folder ``path``, created if needed; a :class:`ConfigError` when it is a file or
    cannot be made. Call it before a search, so a bad target fails before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"cannot export to {path}: it is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the export folder {path}: {e.strerror or e}") from None
    return path


def export_results(
    result: SearchResult,
    out_dir: Path | str,
    formats: Iterable[str] = DEFAULT_EXPORTS,
    score_maps: ScoreMaps = None,
) -> list[Path]:
    """Write the chosen :data:`EXPORT_FORMATS` into ``out_dir`` and return the files written.

    ``mp4``: ``RANK_CLIPID.mp4``, each hit's gesture span with sound (:func:`~gestsearch.media.cut.cut_clip`);
    ``heatmap``: ``RANK_CLIPID.png`` for hits whose clip id is in ``score_maps``
    (clip id → (W, T) word × clip-frame scores, rows in the order of ``hit.peaks``);
    ``pose``: ``RANK_CLIPID.pose.{npz,json,mp4}``, each hit's motion (:mod:`~gestsearch.export.pose`);
    ``json``: ``results.json``; ``csv``: ``results.csv``; ``eaf``/``vtt``: one file per video.
    Files come hit by hit first (each hit's mp4, its heatmap, its pose files), then results.json,
    results.csv and the EAF and VTT files (see :class:`Exporter`).

    An export replaces the previous one in the folder: the files the folder's manifest
    (``.gestsearch-export.json``, :mod:`~gestsearch.export.manifest`) lists are removed first, and
    the manifest then lists this export's files. Files no export wrote stay.
    """
    formats = check_formats(formats)
    out_dir = export_dir(out_dir)
    chosen = sorted((EXPORTERS[f] for f in formats), key=lambda e: e.order)
    per_hit = [e for e in chosen if e.per_hit]
    remove_previous_export(out_dir)
    written: list[Path] = []
    write_manifest(out_dir, written)

    def run(exporter: Exporter, part: SearchResult) -> None:
        written.extend(exporter.write(part, out_dir, score_maps))
        write_manifest(out_dir, written)  # at once: a failed export is still cleaned up by the next

    for hit in result.hits:
        one = replace(result, hits=[hit])
        for exporter in per_hit:
            run(exporter, one)
    for exporter in chosen:
        if not exporter.per_hit:
            run(exporter, result)
    return written
