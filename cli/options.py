"""Options shared by several commands, declared once.

``@settings_options(...)`` adds the chosen shared options to a command and hands it the one
:class:`~gestsearch.config.Settings` they make (defaults ← config file ← environment ← options).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from gestsearch.config import Settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

GestsyncOpt = Annotated[Optional[Path], typer.Option("--gestsync", help="GestSync checkpoint (gestsync.pth). Default: config/env, else the bundled demo model.")]
JegalOpt = Annotated[Optional[Path], typer.Option("--jegal", help="JEGAL checkpoint (jegal.pth).")]
TextModelOpt = Annotated[Optional[str], typer.Option("--text-model", help="Text backbone: Hugging Face id or local directory (default: FacebookAI/xlm-roberta-base).")]
_MODEL_OPTIONS: dict[str, Any] = {
    "gestsync": GestsyncOpt,
    "jegal": JegalOpt,
    "text_model": TextModelOpt,
    "device": Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda, cuda:N (default: auto).")],
    "batch_size": Annotated[Optional[int], typer.Option("--batch-size", min=1, help="GestSync windows per transformer call (default: 256 on the CPU, 1024 on CUDA).")],
    "backend": Annotated[Optional[str], typer.Option("--backend", help="What runs GestSync: auto (OpenVINO on the CPU when installed, else torch), torch, openvino (default: auto).")],
    "precision": Annotated[Optional[str], typer.Option("--precision", help="GestSync arithmetic: fp32, or bf16 (CPUs with native bfloat16, CUDA GPUs from compute capability 8.0) (default: fp32).")],
}
_DB_OPTION = Annotated[Optional[Path], typer.Option("--db", help="Index directory (default: ./gestsearch.lance, or GESTSEARCH_DB).")]
_CONFIG_OPTION = Annotated[Optional[Path], typer.Option("--config", help="TOML config file (default: $XDG_CONFIG_HOME/gestsearch/config.toml).")]


def settings_options(*, models: bool = True, db: bool = False) -> Callable[[Callable], Callable]:
    """Add ``--config`` and, as asked, the model options and ``--db`` to a command, which then
    receives ``settings: Settings`` instead of them."""
    chosen = {**(_MODEL_OPTIONS if models else {}), **({"db": _DB_OPTION} if db else {}), "config": _CONFIG_OPTION}

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)  # Typer reads real annotations, not strings
        own = [p for p in signature.parameters.values() if p.name != "settings"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
                 for name, annotation in chosen.items()]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name, None) for name in chosen}
            config = given.pop("config")
            return command(*args, settings=Settings.load(config, **given), **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # what Typer reads
        return wrapper

    return decorate
