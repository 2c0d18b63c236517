"""`gestsearch serve`: the search service with its web UI, on one index."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Optional

import typer

from cli.options import settings_options
from cli.output import console, model_note
from gestsearch.config import Settings


@settings_options(db=True)
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8080,
    token: Annotated[Optional[str], typer.Option("--token", help="Access token every request must carry (Bearer header, cookie or ?token=); default: GESTSEARCH_TOKEN / config `token`.")] = None,
    open_to_network: Annotated[bool, typer.Option("--open-to-network", help="Listen on a non-local --host without a token: anyone who can reach it can search the archive and watch its videos.")] = False,
    *,
    settings: Settings,
) -> None:
    """Serve the index: a JSON API (/api, schema at /openapi.json) and a web UI at http://HOST:PORT/."""
    import uvicorn

    from gestsearch.serve import create_app

    token = token or settings.token
    if token is not None and len(token) < 8:
        raise typer.BadParameter("--token must be at least 8 characters")
    if not _local(host) and token is None and not open_to_network:
        raise typer.BadParameter(
            f"--host {host} lets other machines connect: give --token T, or --open-to-network to let anyone search"
        )
    from gestsearch import runtime
    from gestsearch.search.encoders import ResidentEncoder
    from gestsearch.store.framefiles import OPEN_FILES_WANTED

    # Queries run one at a time and their models are small: one thread is fastest, and on busy
    # cores two threads made the text encoder 40x slower (benchmarks/README.md, bench_serve).
    runtime.set_threads(runtime.SMALL_MODEL_THREADS)
    runtime.raise_open_files(OPEN_FILES_WANTED)  # before the index opens: its reader sizes its open frame files by it
    encoder = ResidentEncoder(settings)  # torch only once a speech or gesture query comes
    app = create_app(settings, token, encoder)
    model_note(encoder)
    shown_host = f"[{host}]" if ":" in host else host
    console.print(f"serving {settings.db} at http://{shown_host}:{port}/ (API: /api, schema: /openapi.json); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
