"""Printing helpers: rich for people, JSON for scripts, one line for errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from gestsearch.errors import GestsearchError

console = Console()
errors = Console(stderr=True)

EXIT_USAGE = 2


def fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_USAGE)


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
