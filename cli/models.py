"""`gestsearch models`: the official checkpoints."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import JsonOpt
from cli.output import console, print_json

app = typer.Typer(help="The official checkpoints.", no_args_is_help=True)


@app.command("download")
def download(
    out: Annotated[Optional[Path], typer.Option("--dir", help="Where to save (default: $XDG_CACHE_HOME/gestsearch/models).")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="A mirror of the authors' checkpoint folder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even when present.")] = False,
    json: JsonOpt = False,
) -> None:
    """Download gestsync.pth and jegal.pth (resumable), print and record their SHA-256."""
    from cli.progress import ProgressBars
    from gestsearch.models.download import OFFICIAL_BASE_URL, download_official

    with ProgressBars(enabled=not json) as progress:
        files = download_official(out, base_url or OFFICIAL_BASE_URL, force, progress)
    if json:
        print_json([asdict(f) for f in files])
        return
    for f in files:
        console.print(f"{f.status:>10}  {f.path}  sha256 {f.sha256}", highlight=False)
    by_name = {Path(f.path).name: f.path for f in files}
    console.print(
        "use them with:  [bold]export GESTSEARCH_GESTSYNC=" + by_name["gestsync.pth"]
        + " GESTSEARCH_JEGAL=" + by_name["jegal.pth"] + "[/]", highlight=False,
    )
