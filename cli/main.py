"""The `gestsearch` command line. It parses arguments, calls the library and prints; nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.output import console, handle_errors, note, print_json
from gestsearch.config import Settings

app = typer.Typer(
    name="gestsearch",
    help="Find the moments where a speaker gestures a word or phrase, in archives of talk videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# -- options shared by every command that runs the models ----------------------------------
GestsyncOpt = Annotated[Optional[Path], typer.Option("--gestsync", help="GestSync checkpoint (gestsync.pth). Default: config/env, else the bundled demo model.")]
JegalOpt = Annotated[Optional[Path], typer.Option("--jegal", help="JEGAL checkpoint (jegal.pth).")]
TextModelOpt = Annotated[Optional[str], typer.Option("--text-model", help="Text backbone: Hugging Face id or local directory [default: FacebookAI/xlm-roberta-base].")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda, cuda:N [default: auto].")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="GestSync windows per forward pass [default: 48].")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML config file [default: $XDG_CONFIG_HOME/gestsearch/config.toml].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def settings(config: Path | None = None, **overrides: object) -> Settings:
    return Settings.load(config, **overrides)


def embedder_for(s: Settings):
    from gestsearch.embedding import Embedder

    embedder = Embedder.from_settings(s)
    note(f"model: {embedder.info.name} (fingerprint {embedder.info.fingerprint})")
    return embedder


@app.command()
@handle_errors
def embed(
    out: Annotated[Path, typer.Option("--out", help="Output .npz: gesture_emb (T,512), content_emb (W,512), words, word_boundaries.")],
    video: Annotated[Optional[Path], typer.Option("--video", help="A pre-cropped, face-masked speaker track.")] = None,
    audio: Annotated[Optional[Path], typer.Option("--audio", help="Speech audio (wav, mp3, m4a, or a video's sound).")] = None,
    transcript: Annotated[Optional[Path], typer.Option("--transcript", help="WhisperX-style word file (WORD, START, END, SCORE rows).")] = None,
    modalities: Annotated[str, typer.Option("--modalities", help="v (gestures), t (text), a (speech): vta, vt, va, ta, v, t or a.")] = "vta",
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    device: DeviceOpt = None,
    batch_size: BatchOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Embed one speaker track like the official inference script (L2-normalised vectors)."""
    from indexer.embed_file import embed_file

    s = settings(config, gestsync=gestsync, jegal=jegal, text_model=text_model, device=device, batch_size=batch_size)
    embedder = embedder_for(s)
    result = embed_file(embedder, modalities, video, audio, transcript, s.chunk_frames)
    result.save(out, embedder.info.name)
    summary = {
        "out": str(out),
        "model": embedder.info.name,
        "fingerprint": embedder.info.fingerprint,
        "gesture_frames": None if result.gesture is None else len(result.gesture),
        "words": result.words,
    }
    if json:
        print_json(summary)
    else:
        frames = "" if result.gesture is None else f"{len(result.gesture)} gesture frames"
        words = "" if result.content is None else f"{len(result.words)} words"
        console.print(f"wrote [bold]{out}[/]: {', '.join(x for x in (frames, words) if x)}")


DbOpt = Annotated[Optional[Path], typer.Option("--db", help="Index directory [default: ./gestsearch.lance, or GESTSEARCH_DB].")]


@app.command()
@handle_errors
def index(
    folder: Annotated[Path, typer.Argument(help="A folder of videos (searched recursively) or one video file.")],
    db: DbOpt = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove clips of files that are no longer in the folder.")] = False,
    tracks: Annotated[str, typer.Option("--tracks", help="auto, precropped (one speaker per file) or raw (detect people).")] = "auto",
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    device: DeviceOpt = None,
    batch_size: BatchOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Index a folder of videos: speaker tracks → gesture embeddings → LanceDB + FAISS. Incremental."""
    from cli.progress import IndexProgress
    from indexer.pipeline import index_folder

    if tracks not in ("auto", "precropped", "raw"):
        raise typer.BadParameter("must be auto, precropped or raw", param_hint="--tracks")
    s = settings(config, gestsync=gestsync, jegal=jegal, text_model=text_model, device=device, batch_size=batch_size, db=db)
    embedder = embedder_for(s)
    with IndexProgress(enabled=not json) as progress:
        summary = index_folder(folder, embedder, s.db, prune, tracks, chunk_frames=s.chunk_frames,
                               asr_model=s.asr_model, progress=progress)
    if json:
        print_json(summary.to_dict())
    else:
        console.print(
            f"[bold]{len(summary.indexed)}[/] indexed, {len(summary.skipped)} unchanged, "
            f"[{'red' if summary.failed else 'green'}]{len(summary.failed)} failed[/], "
            f"{len(summary.removed)} removed; {summary.clips} clips, {summary.frames} frames → {summary.db}"
        )
        for failure in summary.failed:
            console.print(f"  [red]failed[/] {failure['path']}: {failure['reason']}", highlight=False)
        for line in summary.notes:
            console.print(f"  [yellow]note[/] {line}", highlight=False)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
@handle_errors
def info(db: DbOpt = None, config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """Describe an index: counts, model fingerprint, ANN index type, size on disk."""
    from gestsearch.store import GestureStore

    s = settings(config, db=db)
    with GestureStore.open(s.db, read_only=True) as store:
        data = store.info()
    if json:
        print_json(data)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(f"[bold]{key}[/]", str(value))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
