"""One settings object for the whole tool.

Values come, lowest priority first, from the defaults below, a TOML config file
(``$GESTSEARCH_CONFIG`` or ``$XDG_CONFIG_HOME/gestsearch/config.toml``), environment
variables ``GESTSEARCH_<FIELD>`` (upper case) and explicit overrides (CLI options).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

import tomllib

from gestsearch.errors import ConfigError

DEFAULT_TEXT_MODEL = "FacebookAI/xlm-roberta-base"


@dataclass(frozen=True)
class Settings:
    gestsync: Path | None = None  # official gestsync.pth (None: the bundled demo model)
    jegal: Path | None = None  # official jegal.pth (None: the bundled demo model)
    text_model: str = DEFAULT_TEXT_MODEL  # Hugging Face id or local directory (model + tokenizer)
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1"...
    db: Path = Path("gestsearch.lance")
    batch_size: int = 256  # GestSync windows per transformer call (the trunk runs once per chunk)
    chunk_frames: int = 64  # frames decoded and embedded at a time (bounds memory)
    asr_model: str | None = None  # local Whisper directory for transcript-less audio (optional)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        path = config_file or _default_config_path()
        if path is not None and path.exists():
            try:
                values.update(tomllib.loads(path.read_text()))
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ConfigError(f"cannot read config file {path}: {e}") from e
        for f in fields(cls):
            env = os.environ.get(f"GESTSEARCH_{f.name.upper()}")
            if env:
                values[f.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls()._with(values)

    def _with(self, values: dict[str, object]) -> Settings:
        converted: dict[str, object] = {}
        for f in fields(self):
            if f.name not in values:
                continue
            v = values[f.name]
            try:
                if f.name in ("gestsync", "jegal", "db"):
                    v = Path(str(v)).expanduser()
                elif f.name in ("batch_size", "chunk_frames"):
                    v = int(v)  # type: ignore[arg-type]
                    if v < 1:
                        raise ValueError("must be at least 1")
                else:
                    v = str(v)
            except ValueError as e:
                raise ConfigError(f"invalid value for {f.name}: {values[f.name]!r} ({e})") from e
            converted[f.name] = v
        return replace(self, **converted)

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def _default_config_path() -> Path | None:
    explicit = os.environ.get("GESTSEARCH_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "gestsearch" / "config.toml"
