"""`gestsearch repair`: make a damaged index readable again and say what was lost."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli.options import JsonOpt, settings_options
from cli.output import console, print_json, shown
from gestsearch.config import Settings

if TYPE_CHECKING:  # the store loads LanceDB: imported when the command runs, not at startup
    from gestsearch.store import RepairReport, TableRepair


@settings_options(models=False, db=True)
def repair(json: JsonOpt = False, *, settings: Settings) -> None:
    """Repair an index after a deleted or damaged file: restore the newest readable table versions,
    rebuild the FAISS sidecar, and list the videos to index again. A sound index is left as it is."""
    from gestsearch.store import repair_index

    report = repair_index(settings.db)
    if json:
        print_json(report.to_dict())
    else:
        _print(report)


def _print(report: RepairReport) -> None:
    path = shown(report.path)
    if not report.repaired:
        _say(
            f"index at {path}: [green]nothing to repair[/] ({report.videos_after} videos, {report.clips_after} clips)"
        )
        return
    _say(f"index at {path}: [bold]repaired[/]")
    for table in report.tables.values():
        _say(f"  {table.name} table: {_table_line(table)}")
    if report.frames_error:
        _say(f"  frame files: {report.frames_error}; their videos' clips removed")
    if report.ann_rebuilt:
        why = f" ({shown(report.ann_error)})" if report.ann_error else ""
        _say(f"  FAISS sidecar: rebuilt{why}")
    _say(
        f"  clips: {_count(report.clips_before)} before, {report.clips_after} after; "
        f"videos: {_count(report.videos_before)} before, {report.videos_after} after"
    )
    lost = report.lost_videos
    if lost:
        _say(f"  [red]{len(lost)} video{'s' if len(lost) != 1 else ''} lost their clips:[/]")
        for video in lost:
            _say(f"    {shown(video)}")
    if lost or report.videos_after != report.videos_before:
        _say(f"  to embed what was lost again: gestsearch index FOLDER --db {path}")


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)  # paths and LanceDB's messages stay unbroken


def _table_line(table: TableRepair) -> str:
    if table.state == "restored":
        line = (
            f"version {table.latest_version} unreadable ({shown(table.error)}); "
            f"restored version {table.restored_version}"
        )
    elif table.state == "recreated":
        line = f"[red]no readable version[/] ({shown(table.error)}); made again, empty"
    else:
        line = "fine"
    if table.dropped_indexes:
        line += f"; rebuilt damaged indexes {', '.join(table.dropped_indexes)}"
    return line


def _count(n: int | None) -> str:
    return "?" if n is None else str(n)
