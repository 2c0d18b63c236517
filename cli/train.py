"""`gestsearch train`: train or fine-tune JEGAL with the paper's objective."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.options import GestsyncOpt, JegalOpt, JsonOpt, TextModelOpt
from cli.output import console, print_json
from gestsearch.types import Preset


def train(
    corpus: Annotated[list[Path], typer.Argument(help="Corpus folders (one or more): videos + WhisperX .txt word files (e.g. from `gestsearch synth`).", show_default=False)],
    out: Annotated[Path, typer.Argument(help="Output folder: gestsync.pth, jegal.pth (official format), text/, metrics.jsonl.")],
    preset: Annotated[Preset, typer.Option("--preset", help="tiny (from scratch, CPU) or paper (fine-tune official checkpoints).")] = "tiny",
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
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes computing the feature caches (speaker tracking and masking take one core each).")] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run saved in OUT.")] = False,
    gestsync: GestsyncOpt = None,
    jegal: JegalOpt = None,
    text_model: TextModelOpt = None,
    json: JsonOpt = False,
) -> None:
    """Train JEGAL with the paper's objective (sequence + word-coupling InfoNCE), resumable, deterministic."""
    from cli.progress import ProgressBars
    from gestsearch.train import TrainConfig, initial_weights
    from gestsearch.train import train as run_training

    config = TrainConfig.for_preset(
        preset, epochs=epochs, batch_size=batch_size, lr=lr, beta=beta, word_weight=word_weight, query_crop=query_crop,
        feature_dropout=feature_dropout, pretrain_epochs=pretrain_epochs, pretrained_gestsync=pretrained_gestsync,
        val_corpus=val_corpus, cache_dir=cache_dir, workers=workers, seed=seed, learn_temperature=False if fixed_temperature else None,
    )
    init = initial_weights(preset, gestsync, jegal, text_model)
    with ProgressBars(enabled=not json) as progress:
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
