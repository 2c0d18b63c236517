"""Printing helpers: rich for people, JSON for scripts, one line for errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

try:  # recent Typer releases carry their own copy of click
    from typer._click import Context
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer on the installed click
    from click import Context
    from click import exceptions as click_errors

from gestsearch.errors import GestsearchError

if TYPE_CHECKING:
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder

console = Console()
errors = Console(stderr=True)

EXIT_USAGE = 2


def fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


class OneLineErrors(TyperGroup):
    """The app's command group: usage errors (unknown option, bad value, missing argument) come out as
    one ``error: …`` line with exit code 2, like the library's own errors, instead of a usage box."""

    def make_context(self, *args: Any, **kwargs: Any) -> Context:
        with _one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Context) -> Any:
        with _one_line():
            return super().invoke(ctx)


@contextmanager
def _one_line() -> Iterator[None]:
    try:
        yield
    except click_errors.NoArgsIsHelpError:
        raise  # shows the help, as asked
    except click_errors.ClickException as e:
        raise fail(e.format_message()) from None


def handle_errors(fn: Callable) -> Callable:
    """Turn the library's typed errors into one readable line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GestsearchError as e:
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            errors.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def note(message: str) -> None:
    """A status line on stderr (keeps stdout clean for --json)."""
    errors.print(message, highlight=False, style="dim")


def embedder_for(settings: Settings) -> Embedder:
    """The models the settings name, loaded, with a note saying which they are."""
    from gestsearch.embedding import Embedder

    embedder = Embedder.from_settings(settings)
    note(f"model: {embedder.info.name} (fingerprint {embedder.info.fingerprint})")
    return embedder
