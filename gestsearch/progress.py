"""One progress protocol for every long call of the library: indexing, evaluation, training,
corpus synthesis and downloads.

A long call takes ``progress: Progress | None`` and calls it with events. Every event names the
task it advances (a front end shows one bar per task), how far that task is, a short ``info``
to show beside the bar and, rarely, a ``message``: a line worth keeping once the bar is gone
(an epoch's validation figures, say). The CLI renders all of them with one class
(``cli.progress.ProgressBars``); a test records them with ``events.append``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Unit = Literal["items", "bytes"]


@runtime_checkable
class ProgressEvent(Protocol):
    """What every event tells. An empty ``task`` means the event only carries a ``message``."""

    @property
    def task(self) -> str: ...

    @property
    def done(self) -> int: ...

    @property
    def total(self) -> int | None: ...  # None: not known in advance

    @property
    def info(self) -> str: ...

    @property
    def message(self) -> str | None: ...


@dataclass(frozen=True)
class Update:
    """The plain event: ``task`` has ``done`` of ``total`` ``unit``."""

    task: str
    done: int
    total: int | None = None
    info: str = ""
    message: str | None = None
    unit: Unit = "items"


class EpochSteps:
    """Mixin for the step events of a training loop (dataclasses with ``epoch``, ``step`` and
    ``steps``): one bar per epoch, counting steps. Subclasses say what the bar is (``task``) and
    what to show beside it (``info``)."""

    message = None

    @property
    def done(self) -> int:
        return self.step  # type: ignore[attr-defined]

    @property
    def total(self) -> int:
        return self.steps  # type: ignore[attr-defined]


Progress = Callable[[ProgressEvent], None]


def silent(event: ProgressEvent) -> None:
    """The progress of a call nobody watches."""
