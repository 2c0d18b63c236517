"""Rich rendering of the library's progress events (``gestsearch.progress``): a bar per task with
counts, times and the event's info; messages as lines. Silent when disabled (``--json``)."""

from __future__ import annotations

from rich import filesize
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from cli.output import errors, shown
from gestsearch.progress import ProgressEvent


class CountColumn(ProgressColumn):
    """``done/total`` items, or bytes in kB/MB for download tasks."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            total = "?" if task.total is None else filesize.decimal(int(task.total))
            return Text(f"{filesize.decimal(int(task.completed))}/{total}", style="progress.download")
        total = "?" if task.total is None else str(int(task.total))
        return Text(f"{int(task.completed)}/{total}", style="progress.download")


class ProgressBars:
    """Callable as a ``gestsearch.progress.Progress``; use it as a context manager."""

    def __init__(self, enabled: bool = True):
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), CountColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=errors, disable=not enabled,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> ProgressBars:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, event: ProgressEvent) -> None:
        if event.message:
            self.bar.console.print(shown(event.message), highlight=False)
        if not event.task:
            return
        if event.task not in self.tasks:
            unit = getattr(event, "unit", "items")
            self.tasks[event.task] = self.bar.add_task(event.task, total=event.total, info="", unit=unit)
        self.bar.update(self.tasks[event.task], completed=event.done, total=event.total, info=shown(event.info))
