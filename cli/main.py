"""The `gestsearch` command line: one module per command group, assembled here.

Commands parse, call the library (or the indexer) and print; nothing else.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Annotated

import typer

from cli import demo as demo_app
from cli import embed, eval, index, models, repair, search, serve, synth, train
from cli.output import VERBOSE_VARIABLE, OneLineErrors, quiet_native_logs

app = typer.Typer(
    name="gestsearch",
    help="Find the moments where a speaker gestures a word or phrase, in archives of talk videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


@app.callback()
def options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show the native libraries' own log lines (MediaPipe, TensorFlow Lite).")] = False,
) -> None:
    """Find the moments where a speaker gestures a word or phrase, in archives of talk videos."""


app.command()(embed.embed)
app.command()(index.index)
app.command()(search.search)
app.command()(serve.serve)
app.command()(index.info)
app.command()(repair.repair)
app.add_typer(eval.app, name="eval")
app.command()(synth.synth)
app.command()(train.train)
app.command()(demo_app.demo)
app.add_typer(models.app, name="models")


# Commands that leave nothing to write or close once they return. They end the process at once
# instead of letting Python tear down the modules LanceDB, pyarrow and pandas bring in: about
# 0.3 s of a 2 s cold `gestsearch search` (benchmarks/README.md, "Cold CLI search").
EXIT_AT_ONCE = {"search"}


def main() -> None:
    if "--verbose" not in sys.argv[1:] and not os.environ.get(VERBOSE_VARIABLE):
        quiet_native_logs()
    try:
        app()
    except SystemExit as done:
        command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)  # after --verbose, the app's one option
        if command in EXIT_AT_ONCE and isinstance(done.code, (int, type(None))):
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError):  # a reader that has gone (`| head`) takes no more
                    stream.flush()
            os._exit(done.code or 0)
        raise


if __name__ == "__main__":
    main()
