"""Rich progress for long runs (files, frames, ETA); silent when disabled (--json)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cli.output import errors


class IndexProgress:
    """Implements indexer.pipeline.Progress with two bars: files and frames."""

    def __init__(self, enabled: bool = True):
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=errors, disable=not enabled, transient=False,
        )
        self.files = self.frames_task = None

    def __enter__(self) -> IndexProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def start(self, n_files: int, n_frames: int) -> None:
        self.files = self.bar.add_task("files", total=n_files)
        self.frames_task = self.bar.add_task("frames", total=n_frames or None)

    def file(self, path: Path) -> None:
        if self.files is not None:
            self.bar.update(self.files, description=f"files ({path.name[:40]})")

    def done(self, path: Path) -> None:
        if self.files is not None:
            self.bar.advance(self.files)

    def frames(self, n: int) -> None:
        if self.frames_task is not None:
            self.bar.advance(self.frames_task, n)


class KeyedProgress:
    """One bar per name, fed by ``progress(name, done, total)`` callbacks."""

    def __init__(self, *columns, enabled: bool = True):
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), *columns, console=errors, disable=not enabled)
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> KeyedProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, name: str, done: int, total: int | None) -> None:
        self.update(name, done, total)

    def update(self, name: str, done: int, total: int | None, **fields: object) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=total, **fields)
        self.bar.update(self.tasks[name], completed=done, total=total, **fields)


def stage_progress(enabled: bool = True) -> KeyedProgress:
    """Counts of items per stage."""
    return KeyedProgress(MofNCompleteColumn(), TimeRemainingColumn(), enabled=enabled)


def download_progress(enabled: bool = True) -> KeyedProgress:
    """Bytes per file."""
    return KeyedProgress(DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), enabled=enabled)


class TrainProgress(KeyedProgress):
    """Feature caching, then steps per epoch with the loss, then validation R@5 after each epoch."""

    def __init__(self, enabled: bool = True):
        super().__init__(MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"), enabled=enabled)

    def __call__(self, event) -> None:
        from gestsearch.train import CacheEvent, EpochMetrics, PretrainEpoch, PretrainStep, StepEvent

        if isinstance(event, CacheEvent):
            self.update(f"caching {event.corpus} features", event.done, event.total, info="")
        elif isinstance(event, PretrainStep):
            self.update(f"pre-training GestSync, epoch {event.epoch}", event.step, event.steps, info=f"loss {event.loss:.3f}")
        elif isinstance(event, PretrainEpoch):
            self.bar.console.print(
                f"pre-training epoch {event.epoch}/{event.epochs}: loss {event.loss:.3f}, "
                f"spoken-word frame accuracy {event.accuracy:.1f}%", highlight=False,
            )
        elif isinstance(event, StepEvent):
            word = f", word {event.word_loss:.3f}" if event.word_loss else ""
            info = f"loss {event.loss:.3f} (seq {event.seq_loss:.3f}, couple {event.couple_loss:.3f}{word})"
            self.update(f"epoch {event.epoch}", event.step, event.steps, info=info)
        elif isinstance(event, EpochMetrics) and event.val_s2g_r5 is not None:
            self.bar.console.print(
                f"epoch {event.epoch}: val S→G R@5 {event.val_s2g_r5:.1f}%  G→S R@5 {event.val_g2s_r5:.1f}%  "
                f"spotting {event.val_spotting:.1f}%", highlight=False,
            )
