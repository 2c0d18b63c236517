"""Rich progress for long runs (files, frames, ETA); silent when disabled (--json)."""

from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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


class StageProgress:
    """One bar per named stage, fed by ``progress(stage, done, total)`` callbacks."""

    def __init__(self, enabled: bool = True):
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=errors, disable=not enabled,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> StageProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)


class DownloadProgress:
    """Byte progress per file, fed by ``progress(name, done, total)``."""

    def __init__(self, enabled: bool = True):
        from rich.progress import DownloadColumn, TransferSpeedColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=errors, disable=not enabled,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> DownloadProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, name: str, done: int, total: int | None) -> None:
        if name not in self.tasks:
            self.tasks[name] = self.bar.add_task(name, total=total)
        self.bar.update(self.tasks[name], completed=done, total=total)
