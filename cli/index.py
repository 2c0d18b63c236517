"""`gestsearch index` and `gestsearch info`: keep an index up to date, and describe it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import JsonOpt, settings_options
from cli.output import console, embedder_for, model_note, note, print_json, shown
from gestsearch.config import Settings
from gestsearch.types import TrackMode


@settings_options(db=True)
def index(
    folder: Annotated[Path, typer.Argument(help="A folder of videos (searched recursively), one video file, or a text file listing videos: paths, file:// or s3:// gs:// hdfs:// abfs:// URIs, one a line.")],
    prune: Annotated[bool, typer.Option("--prune", help="Remove clips of files that are no longer in the folder.")] = False,
    tracks: Annotated[TrackMode, typer.Option("--tracks", help="auto, precropped (one speaker per file) or raw (detect people).")] = "auto",
    ray: Annotated[Optional[str], typer.Option("--ray", help="Embed on a Ray cluster (pip install 'gestsearch[ray]'): auto (RAY_ADDRESS or a `ray start` cluster, else a new one on this machine) or the cluster's address.")] = None,
    json: JsonOpt = False,
    *,
    settings: Settings,
) -> None:
    """Index a folder of videos: speaker tracks → gesture embeddings → LanceDB + FAISS. Incremental."""
    from cli.progress import ProgressBars
    from indexer import index_folder

    if ray is not None:
        from indexer.distributed import index_on_ray
        from indexer.pipeline import EmbedOptions

        options = EmbedOptions(tracks, chunk_frames=settings.chunk_frames, asr_model=settings.asr_model)
        with ProgressBars(enabled=not json) as progress:
            summary = index_on_ray(folder, settings, settings.db, ray, prune, options, progress)
        note(f"model: {summary.model} (fingerprint {summary.fingerprint})")
    else:
        embedder = embedder_for(settings)
        with ProgressBars(enabled=not json) as progress:
            summary = index_folder(folder, embedder, settings.db, prune, tracks, chunk_frames=settings.chunk_frames,
                                   asr_model=settings.asr_model, progress=progress)
        model_note(embedder)
    if json:
        print_json(summary.to_dict())
    else:
        console.print(
            f"[bold]{len(summary.indexed)}[/] indexed, {len(summary.skipped)} unchanged, "
            f"[{'red' if summary.failed else 'green'}]{len(summary.failed)} failed[/], "
            f"{len(summary.removed)} removed; {summary.clips} clips, {summary.frames} frames → {shown(summary.db)}"
        )
        for failure in summary.failed:
            console.print(f"  [red]failed[/] {shown(failure['path'])}: {shown(failure['reason'])}", highlight=False)
        for line in summary.notes:
            console.print(f"  [yellow]note[/] {shown(line)}", highlight=False)
    if summary.failed:
        raise typer.Exit(1)


@settings_options(models=False, db=True)
def info(json: JsonOpt = False, *, settings: Settings) -> None:
    """Describe an index: counts, model fingerprint, ANN index type, size on disk."""
    from rich.table import Table

    from gestsearch.store import GestureStore

    with GestureStore.open(settings.db, read_only=True) as store:
        data = store.info().to_dict()
    if json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(f"[bold]{key}[/]", shown(str(value)))
    console.print(table)


