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
TextModelOpt = Annotated[Optional[str], typer.Option("--text-model", help="Text backbone: Hugging Face id or local directory (default: FacebookAI/xlm-roberta-base).")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda, cuda:N (default: auto).")]
BatchOpt = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="GestSync windows per transformer call (default: 256).")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML config file (default: $XDG_CONFIG_HOME/gestsearch/config.toml).")]
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


DbOpt = Annotated[Optional[Path], typer.Option("--db", help="Index directory (default: ./gestsearch.lance, or GESTSEARCH_DB).")]


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
def search(
    query: Annotated[Optional[str], typer.Argument(help="A word or phrase, e.g. \"take a walk\".")] = None,
    audio: Annotated[Optional[Path], typer.Option("--audio", help="Query by speech: an audio file (wav, mp3, m4a, or a video's sound).")] = None,
    transcript: Annotated[Optional[str], typer.Option("--transcript", help="The words spoken in --audio (aligned offline).")] = None,
    like: Annotated[Optional[int], typer.Option("--like", help="Gesture → speech: clips whose speech matches this clip's gestures.")] = None,
    like_video: Annotated[Optional[Path], typer.Option("--like-video", help="Gesture → speech from a video's time range (with --start/--end).")] = None,
    start: Annotated[Optional[float], typer.Option("--start", min=0.0, help="Start of the --like-video range, seconds.")] = None,
    end: Annotated[Optional[float], typer.Option("--end", min=0.0, help="End of the --like-video range, seconds.")] = None,
    track: Annotated[int, typer.Option("--track", min=0, help="Speaker track of --like-video.")] = 0,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Number of hits.")] = 10,
    candidates: Annotated[int, typer.Option("--candidates", min=1, help="Stage-1 candidates re-ranked exactly.")] = 300,
    coupling_weight: Annotated[Optional[float], typer.Option("--coupling-weight", min=0.0, max=1.0, help="Weight of the word-coupling score in the final score.")] = None,
    export: Annotated[Optional[Path], typer.Option("--export", help="Write each hit's mp4 cut, a heatmap PNG and results.json into this folder.")] = None,
    formats: Annotated[Optional[list[str]], typer.Option("--format", help="Export formats (repeatable): json, csv, vtt, eaf, mp4, heatmap.")] = None,
    db: DbOpt = None,
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Search the index by text, by speech (--audio) or by a clip's gestures (--like)."""
    from gestsearch.search.engine import Searcher
    from gestsearch.search.export import DEFAULT_EXPORTS, export_results
    from gestsearch.search.scoring import DEFAULT_COUPLING_WEIGHT
    from gestsearch.store import GestureStore

    given = [x for x in (query, audio, like, like_video) if x is not None]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one of QUERY, --audio, --like or --like-video")
    if not (like_video is None) == (start is None) == (end is None):
        raise typer.BadParameter("--like-video needs --start and --end (and they go only with it)")
    if transcript is not None and audio is None:
        raise typer.BadParameter("--transcript goes with --audio")
    if formats and export is None:
        raise typer.BadParameter("--format needs --export DIR")
    s = settings(config, gestsync=gestsync, jegal=jegal, text_model=text_model, device=device, db=db)
    with GestureStore.open(s.db, read_only=True) as store:
        embedder = embedder_for(s)
        if store.fingerprint != embedder.info.fingerprint:
            from gestsearch.errors import FingerprintMismatch

            raise FingerprintMismatch(
                f"index at {s.db} was built with model fingerprint {store.fingerprint}, but the models in use "
                f"have fingerprint {embedder.info.fingerprint}; pass the checkpoints the index was built with"
            )
        searcher = Searcher(store, embedder, candidates, DEFAULT_COUPLING_WEIGHT if coupling_weight is None else coupling_weight)
        if audio is not None:
            q = searcher.audio_query(audio, transcript, s.asr_model)
        elif like is not None:
            q = searcher.gesture_query(like)
        elif like_video is not None:
            q = searcher.gesture_query_from_video(like_video, start, end, track)
        else:
            q = searcher.text_query(query)
        ranked = searcher.search(q, k)
    result = ranked.result
    if export is not None:
        written = export_results(result, export, formats or DEFAULT_EXPORTS, ranked.score_maps)
        note(f"exported {len(written)} files to {export}")
    if json:
        print_json(result.to_dict())
    else:
        print_hits(result)


def print_hits(result) -> None:
    from rich.table import Table

    table = Table(title=f"{result.mode} query: {result.query}", title_justify="left")
    for column in ("#", "score", "video", "clip", "gesture", "word peaks"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        peaks = ", ".join(f"{p.word}@{p.time_s:.2f}s" for p in hit.peaks)
        table.add_row(
            str(hit.rank), f"{hit.score:.3f}", Path(hit.video_path).name,
            f"{hit.clip_start_s:.2f}-{hit.clip_end_s:.2f}s", f"{hit.span_start_s:.2f}-{hit.span_end_s:.2f}s", peaks,
        )
    console.print(table if result.hits else "no hits")


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


eval_app = typer.Typer(help="Evaluate on the AVS benchmarks (official protocol, then the engine's re-ranking).", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
CsvOpt = Annotated[Path, typer.Option("--csv", help="The official manifest (avs_ret.csv / avs_spot.csv).")]
MediaOpt = Annotated[Path, typer.Option("--media", help="Media root laid out as the official tooling does: crops ROOT/ID_START-END/00000.avi + .wav, or raw downloads ROOT/ID_START-END.mp4 (or ROOT/ID.mp4).")]
ModalitiesOpt = Annotated[str, typer.Option("--modalities", help="Content modalities: t (text), a (speech) or ta.")]


def print_missing(report) -> None:
    """One line on the rows left out, with the reasons of the first three."""
    if report.missing:
        first = ", ".join(f"{name} ({report.missing_reasons[name]})" for name in report.missing[:3])
        console.print(f"{len(report.missing)} clips without media were left out (first: {first})")


@eval_app.command("avs-ret")
@handle_errors
def eval_avs_ret(
    csv: CsvOpt,
    media: MediaOpt,
    modalities: ModalitiesOpt = "ta",
    db: Annotated[Optional[Path], typer.Option("--db", help="Keep embeddings in this index (re-runs cost no model time).")] = None,
    candidates: Annotated[int, typer.Option("--candidates", min=1, help="Stage-1 candidates of the engine protocol.")] = 300,
    coupling_weight: Annotated[Optional[float], typer.Option("--coupling-weight", min=0.0, max=1.0)] = None,
    ranks_csv: Annotated[Optional[Path], typer.Option("--ranks-csv", help="Write the per-query ranks here.")] = None,
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """AVS-Ret: Recall@K and median rank, speech→gesture and gesture→speech."""
    from cli.progress import stage_progress
    from gestsearch.eval.avs import evaluate_retrieval
    from gestsearch.search.scoring import DEFAULT_COUPLING_WEIGHT

    s = settings(config, gestsync=gestsync, jegal=jegal, text_model=text_model, device=device)
    embedder = embedder_for(s)
    weight = DEFAULT_COUPLING_WEIGHT if coupling_weight is None else coupling_weight
    with stage_progress(enabled=not json) as progress:
        report = evaluate_retrieval(csv, media, embedder, modalities, db, candidates, weight, progress)
    if ranks_csv:
        report.write_ranks(ranks_csv)
    if json:
        print_json(report.to_dict())
        return
    from rich.table import Table

    ks = ["R@1", "R@5", "R@10", "R@25", "R@50", "MR"]
    table = Table(title=f"AVS-Ret ({modalities}), N = {report.n_evaluated} of {report.n_manifest}", title_justify="left")
    table.add_column("protocol")
    table.add_column("direction")
    for k in ks:
        table.add_column(k, justify="right")
    for protocol, results in (("official (pooled)", report.official), ("engine (ANN + coupling)", report.engine)):
        for direction, m in results.items():
            table.add_row(protocol, direction, *[f"{m[k]:.1f}" if k in m else "-" for k in ks])
    console.print(table)
    print_missing(report)


@eval_app.command("avs-spot")
@handle_errors
def eval_avs_spot(
    csv: CsvOpt,
    media: MediaOpt,
    modalities: ModalitiesOpt = "ta",
    db: Annotated[Optional[Path], typer.Option("--db", help="Keep embeddings in this index.")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Minimum spotting score.")] = 0.5,
    frame_margin: Annotated[int, typer.Option("--frame-margin", min=0, help="Frames allowed outside the word's boundary.")] = 9,
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """AVS-Spot: word-spotting accuracy (peak within the word ±margin, score ≥ threshold)."""
    from cli.progress import stage_progress
    from gestsearch.eval.avs import evaluate_spotting

    s = settings(config, gestsync=gestsync, jegal=jegal, text_model=text_model, device=device)
    embedder = embedder_for(s)
    with stage_progress(enabled=not json) as progress:
        report = evaluate_spotting(csv, media, embedder, modalities, db, threshold, frame_margin, progress)
    if json:
        print_json(report.to_dict())
        return
    console.print(
        f"AVS-Spot ({modalities}): accuracy [bold]{report.accuracy:.1f}%[/] over N = {report.n_evaluated} "
        f"of {report.n_manifest} (threshold {threshold}, ±{frame_margin} frames)"
    )
    print_missing(report)


@app.command()
@handle_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder: NAME.mp4 + NAME.txt per clip and manifest.csv.")],
    clips: Annotated[int, typer.Option("--clips", min=1, help="Number of clips.")] = 100,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same corpus; other seeds, other clips.")] = 0,
    json: JsonOpt = False,
) -> None:
    """Render a synthetic gesture corpus: a body gesturing a lexicon of words to espeak-ng speech."""
    from dataclasses import asdict

    from cli.progress import stage_progress
    from gestsearch.synth import generate_corpus

    with stage_progress(enabled=not json) as progress:
        summary = generate_corpus(out, clips, seed, lambda done, total: progress("clips", done, total))
    if json:
        print_json(asdict(summary))
    else:
        console.print(f"wrote {clips} clips and manifest.csv to [bold]{out}[/]")


@app.command()
@handle_errors
def train(
    corpus: Annotated[list[Path], typer.Argument(help="Corpus folders (one or more): videos + WhisperX .txt word files (e.g. from `gestsearch synth`).", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output folder: gestsync.pth, jegal.pth (official format), text/, metrics.jsonl.")],
    preset: Annotated[str, typer.Option("--preset", help="tiny (from scratch, CPU) or paper (fine-tune official checkpoints).")] = "tiny",
    epochs: Annotated[Optional[int], typer.Option("--epochs", min=1)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=2, help="Clips per step (the InfoNCE negatives).")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Peak learning rate (tiny 3e-4, paper 5e-5).")] = None,
    beta: Annotated[Optional[float], typer.Option("--beta", min=0.0, max=1.0, help="Loss = β·L_seq + (1−β)·L_couple + γ·L_word (β 0.5).")] = None,
    word_weight: Annotated[Optional[float], typer.Option("--word-weight", min=0.0, help="γ: within-clip word contrast, not in the paper (tiny 0.5, paper 0).")] = None,
    query_crop: Annotated[Optional[float], typer.Option("--query-crop", min=0.0, max=1.0, help="Per clip: probability of training on 1-3 of its words only, as short search queries are (0).")] = None,
    feature_dropout: Annotated[Optional[float], typer.Option("--feature-dropout", min=0.0, max=0.95, help="Dropout on the GestSync features while training JEGAL (augmentation; 0).")] = None,
    pretrain_epochs: Annotated[Optional[int], typer.Option("--pretrain-epochs", min=0, help="Stage 1: epochs teaching the GestSync network the spoken word of each frame, then frozen (tiny preset; 0: none).")] = None,
    pretrained_gestsync: Annotated[Optional[Path], typer.Option("--pretrained-gestsync", help="Stage 1 done: the gestsync.pth of an earlier tiny run on the same first corpus, loaded and frozen instead of pre-training.")] = None,
    fixed_temperature: Annotated[bool, typer.Option("--fixed-temperature", help="Keep the temperature at 0.07 instead of learning it.")] = False,
    val_corpus: Annotated[Optional[Path], typer.Option("--val-corpus", help="Validate on this corpus instead of a held-out share.")] = None,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Where the feature caches go (default OUT); runs on one corpus can share them.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run saved in OUT.")] = False,
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train JEGAL with the paper's objective (sequence + word-coupling InfoNCE), resumable, deterministic."""
    from dataclasses import asdict

    from cli.progress import TrainProgress
    from gestsearch.config import DEFAULT_TEXT_MODEL
    from gestsearch.train import TrainConfig
    from gestsearch.train import train as run_training

    config = TrainConfig.for_preset(
        preset, epochs=epochs, batch_size=batch_size, lr=lr, beta=beta, word_weight=word_weight, query_crop=query_crop, feature_dropout=feature_dropout, pretrain_epochs=pretrain_epochs, pretrained_gestsync=pretrained_gestsync, val_corpus=val_corpus, cache_dir=cache_dir, seed=seed,
        learn_temperature=False if fixed_temperature else None,
    )
    init = None
    if preset == "paper":
        if not (gestsync and jegal):
            raise typer.BadParameter("the paper preset fine-tunes official checkpoints: give --gestsync and --jegal")
        init = (gestsync, jegal, text_model or DEFAULT_TEXT_MODEL)
    with TrainProgress(enabled=not json) as progress:
        report = run_training(corpus, out, config, init, resume, progress)
    if json:
        print_json({**asdict(report), "final": asdict(report.final) if report.final else None})
        return
    final = report.final
    if final is not None and final.val_s2g_r5 is not None:
        console.print(
            f"epoch {final.epoch}: val S→G R@5 {final.val_s2g_r5:.1f}%, G→S R@5 {final.val_g2s_r5:.1f}%, "
            f"spotting {final.val_spotting:.1f}% ({report.n_val} held-out clips)"
        )
    console.print(f"wrote [bold]{report.gestsync}[/], [bold]{report.jegal}[/] (text model {report.text_model})")


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Argument(help="Working folder for the archive, index and report.")] = Path("gestsearch-demo"),
    clips: Annotated[int, typer.Option("--clips", min=4, help="Clips in the synthetic archive.")] = 60,
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    device: DeviceOpt = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build a synthetic gesture archive, index it, search it, check the hits and write an HTML report."""
    from dataclasses import asdict

    from gestsearch.demo import run_demo

    s = settings(config, gestsync=gestsync, jegal=jegal, text_model=text_model, device=device)
    embedder = embedder_for(s)
    result = run_demo(out, embedder, clips, say=note)
    if json:
        print_json({"report": str(result.report), "checks": [asdict(c) for c in result.checks],
                    "results": [r.to_dict() for r in result.results]})
    else:
        for r in result.results:
            print_hits(r)
        for c in result.checks:
            mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
            console.print(f"{mark} {c.query!r}: {c.detail}", highlight=False)
        passed = sum(c.ok for c in result.checks)
        console.print(f"{passed} of {len(result.checks)} top hits show the query word's gesture at the right time")
        console.print(f"report: [bold]{result.report.resolve()}[/]")


models_app = typer.Typer(help="The official checkpoints.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("download")
@handle_errors
def models_download(
    out: Annotated[Optional[Path], typer.Option("--dir", help="Where to save (default: $XDG_CACHE_HOME/gestsearch/models).")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="A mirror of the authors' checkpoint folder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even when present.")] = False,
    json: JsonOpt = False,
) -> None:
    """Download gestsync.pth and jegal.pth (resumable), print and record their SHA-256."""
    from dataclasses import asdict

    from cli.progress import download_progress
    from gestsearch.models.download import OFFICIAL_BASE_URL, download_official

    with download_progress(enabled=not json) as progress:
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
