"""How the CLI fails: one line for what users cause (exit 2), one line for our own bugs (exit 1),
tracebacks only with GESTSEARCH_DEBUG=1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.store import GestureStore

runner = CliRunner()


def _broken_open(*args, **kwargs):
    raise ZeroDivisionError("a bug")


def test_an_unexpected_exception_is_one_line_and_exit_1(monkeypatch, tmp_path):
    monkeypatch.delenv("GESTSEARCH_DEBUG", raising=False)
    monkeypatch.setattr(GestureStore, "open", _broken_open)
    result = runner.invoke(app, ["info", "--db", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == ["internal error: ZeroDivisionError: a bug (rerun with GESTSEARCH_DEBUG=1 for details)"]


def test_the_debug_switch_lets_the_traceback_through(monkeypatch, tmp_path):
    monkeypatch.setenv("GESTSEARCH_DEBUG", "1")
    monkeypatch.setattr(GestureStore, "open", _broken_open)
    result = runner.invoke(app, ["info", "--db", str(tmp_path)])
    assert isinstance(result.exception, ZeroDivisionError)


@pytest.mark.parametrize("args, message", [
    (["search", "-k", "0", "x"], "error: Invalid value for '-k' / '--top'"),
    (["index"], "error: Missing argument"),
    (["no-such-command"], "error: No such command"),
    (["info", "--db", "/nonexistent/index"], "error: no index at /nonexistent/index"),
])
def test_user_errors_are_one_line_and_exit_2(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()] and result.output.startswith(message)
