"""`gestsearch synth`: a synthetic gesture corpus with known gestures (for training and checks)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from cli.options import JsonOpt
from cli.output import console, print_json


def synth(
    out: Annotated[Path, typer.Argument(help="Output folder: NAME.mp4 + NAME.txt per clip and manifest.csv.")],
    clips: Annotated[int, typer.Option("--clips", min=1, help="Number of clips.")] = 100,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same corpus; other seeds, other clips.")] = 0,
    people: Annotated[int, typer.Option(
        "--people", min=1, max=2,
        help="People in view: 2 renders one speaker and one listener side by side (who speaks when is in manifest.csv).",
    )] = 1,
    json: JsonOpt = False,
) -> None:
    """Render a synthetic gesture corpus: a body gesturing a lexicon of words to espeak-ng speech."""
    from cli.progress import ProgressBars
    from gestsearch.synth import generate_corpus

    with ProgressBars(enabled=not json) as progress:
        summary = generate_corpus(out, clips, seed, progress, people=people)
    if json:
        print_json(asdict(summary))
    else:
        console.print(f"wrote {clips} clips and manifest.csv to [bold]{out}[/]")
