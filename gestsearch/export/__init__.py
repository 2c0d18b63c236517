"""Exports of a search result: JSON, CSV, WebVTT, ELAN (.eaf), mp4 cuts, heatmaps, motion (pose), an HTML report.

Each format is an :class:`Exporter` registered by name in :data:`EXPORTERS`;
:func:`export_results` writes the chosen ones into a folder, replacing the folder's previous
export (its files are listed in the manifest :data:`MANIFEST_NAME`).
"""

from gestsearch.export.base import Exporter
from gestsearch.export.csv_export import CSV_COLUMNS, write_csv
from gestsearch.export.eaf import write_eaf
from gestsearch.export.heatmap import heatmap_png, hit_title
from gestsearch.export.json_export import write_json
from gestsearch.export.manifest import MANIFEST_NAME, read_manifest
from gestsearch.export.pose import POSE_SCHEMA, write_pose
from gestsearch.export.registry import (
    DEFAULT_EXPORTS,
    EXPORT_FORMATS,
    EXPORTERS,
    check_formats,
    export_dir,
    export_results,
)
from gestsearch.export.report import ReportQuery, write_report
from gestsearch.export.tiers import annotations, hits_tier, peaks_tier
from gestsearch.export.vtt import write_vtt

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_EXPORTS",
    "EXPORTERS",
    "EXPORT_FORMATS",
    "MANIFEST_NAME",
    "POSE_SCHEMA",
    "Exporter",
    "ReportQuery",
    "annotations",
    "check_formats",
    "export_dir",
    "export_results",
    "heatmap_png",
    "hit_title",
    "hits_tier",
    "peaks_tier",
    "read_manifest",
    "write_csv",
    "write_eaf",
    "write_json",
    "write_pose",
    "write_report",
    "write_vtt",
]
