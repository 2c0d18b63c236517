"""Printing for the CLI: rich for people, JSON for scripts, and every failure as one line.

Failures: a usage error or a library error (``GestsearchError``) prints ``error: …`` and exits
with 2; anything unexpected prints ``internal error: …`` and exits with 1. Tracebacks appear only
with ``GESTSEARCH_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

try:  # recent Typer releases carry their own copy of click
    from typer._click import Context
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older Typer on the installed click
    from click import Context
    from click import exceptions as click_errors

from gestsearch.errors import GestsearchError
from gestsearch.text import json_text, printable

if TYPE_CHECKING:
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.search.engine import QueryEncoder

console = Console()
errors = Console(stderr=True)

EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 1, 130
DEBUG_VARIABLE = "GESTSEARCH_DEBUG"
VERBOSE_VARIABLE = "GESTSEARCH_VERBOSE"


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def fail(message: str, code: int = EXIT_USAGE, label: str = "error") -> typer.Exit:
    """Print ``label: message`` as one line on stderr; return the Exit to raise."""
    text = " ".join(printable(message).split())
    errors.print(f"[bold red]{label}:[/] {escape(text)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class OneLineErrors(TyperGroup):
    """The app's command group: every failure of a command comes out as one line (see the module
    docstring), instead of a usage box or a traceback."""

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
    except (click_errors.NoArgsIsHelpError, typer.Exit, typer.Abort):
        raise  # the help a bare command shows, and deliberate exits
    except click_errors.ClickException as e:
        raise fail(e.format_message()) from None
    except GestsearchError as e:
        if debugging():
            traceback.print_exc()
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # the reader went away (`gestsearch … | head`): stop quietly
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        raise typer.Exit(EXIT_INTERNAL) from None
    except Exception as e:
        if debugging():
            raise
        detail = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        raise fail(f"{detail} (rerun with {DEBUG_VARIABLE}=1 for details)", EXIT_INTERNAL, "internal error") from None


def quiet_native_logs() -> None:
    """Drop what native code writes to the process's stderr (MediaPipe's absl and TensorFlow Lite
    print dozens of lines per file), keeping Python's own stderr: progress, notes and errors.

    The C libraries write to file descriptor 2 directly, so fd 2 goes to /dev/null and
    ``sys.stderr`` moves to a duplicate of the real one. ``--verbose`` skips this.
    """
    try:
        sys.stderr.flush()
        real = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:  # no stderr to redirect (a daemon, a closed fd): nothing to quiet
        return
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding="utf-8", errors="backslashreplace")


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout. File-name bytes that are not UTF-8 travel as ``\\udcNN``
    escapes, which JSON readers turn back into the same Python path."""
    sys.stdout.write(json_text(data))


def note(message: str) -> None:
    """A status line on stderr (keeps stdout clean for --json)."""
    errors.print(escape(printable(message)), highlight=False, style="dim")


def shown(text: str) -> str:
    """A path or message for a rich table or line: printable, markup escaped."""
    return escape(printable(text))


def embedder_for(settings: Settings, gestsync_now: bool = True) -> Embedder:
    """The models the settings name, loaded (GestSync on first use unless ``gestsync_now``). Commands
    say which with :func:`model_note` once their work is done, so that a failure stays the one line it is."""
    from gestsearch.embedding import Embedder

    return Embedder.from_settings(settings, gestsync_now)


def model_note(embedder: Embedder | QueryEncoder) -> None:
    note(f"model: {embedder.info.name} (fingerprint {embedder.info.fingerprint})")
