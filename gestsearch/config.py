"""One settings object for the whole tool.

Values come, lowest priority first, from the defaults below, a TOML config file
(``$GESTSEARCH_CONFIG`` or ``$XDG_CONFIG_HOME/gestsearch/config.toml``), environment
variables ``GESTSEARCH_<FIELD>`` (upper case) and explicit overrides (CLI options).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

import tomllib

from gestsearch.constants import CUDA_WINDOW_BATCH, WINDOW_BATCH
from gestsearch.errors import ConfigError
from gestsearch.types import INFERENCE_BACKENDS, PRECISIONS, InferenceBackend, Precision, check_choice

DEFAULT_TEXT_MODEL = "FacebookAI/xlm-roberta-base"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")  # present where a CUDA GPU can be used


@dataclass(frozen=True)
class Settings:
    gestsync: Path | None = None  # official gestsync.pth (None: the bundled demo model)
    jegal: Path | None = None  # official jegal.pth (None: the bundled demo model)
    text_model: str = DEFAULT_TEXT_MODEL  # Hugging Face id or local directory (model + tokenizer)
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1"...
    db: Path = Path("gestsearch.lance")
    batch_size: int | None = None  # GestSync windows per transformer call (None: per device, see window_batch)
    backend: InferenceBackend = "auto"  # who runs GestSync: auto (OpenVINO on the CPU when installed, else torch), torch, openvino
    precision: Precision = "fp32"  # bf16: opt-in where bfloat16 is native (CPU, CUDA from Ampere; gestsearch.models.backend)
    chunk_frames: int = 64  # frames decoded and embedded at a time (bounds memory)
    asr_model: str | None = None  # local Whisper directory for transcript-less audio (optional)
    server: str | None = None  # URL of a running `gestsearch serve`: `gestsearch search` asks it, loading no models
    token: str | None = None  # that server's access token (and the default of `gestsearch serve --token`)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        path, explicit = _config_path(config_file)
        if path is not None and (explicit or path.exists()):
            values.update(_read_config(path))
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
                elif f.name == "device":
                    v = str(v)
                    if not _DEVICE.fullmatch(v):
                        raise ValueError("use auto, cpu, cuda or cuda:N")
                elif f.name in ("backend", "precision"):
                    choices = INFERENCE_BACKENDS if f.name == "backend" else PRECISIONS
                    v = check_choice(str(v), choices, f.name, ValueError)
                else:
                    v = str(v)
            except ValueError as e:
                raise ConfigError(f"invalid value for {f.name}: {values[f.name]!r} ({e})") from e
            converted[f.name] = v
        return replace(self, **converted)

    def window_batch(self, device: str) -> int:
        """GestSync windows per transformer call on ``device``: ``batch_size`` when set, else
        ``WINDOW_BATCH`` on the CPU and the larger ``CUDA_WINDOW_BATCH`` on a GPU."""
        if self.batch_size is not None:
            return self.batch_size
        return CUDA_WINDOW_BATCH if device.startswith("cuda") else WINDOW_BATCH

    def cpu_only(self) -> bool:
        """Whether these settings run on the CPU, decided without importing torch: ``auto`` can
        find a GPU only where NVIDIA's driver is loaded and ``CUDA_VISIBLE_DEVICES`` leaves one."""
        if self.device != "auto":
            return self.device == "cpu"
        if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
            return True
        return not NVIDIA_DRIVER.exists()

    def torch_device(self) -> str:
        """The torch device to run on: ``auto`` is CUDA when a GPU is usable, else the CPU; asking
        for CUDA where there is none is a :class:`ConfigError`, not a silent CPU run."""
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ConfigError(f"device {self.device!r}: this machine has no usable CUDA GPU (use --device cpu or auto)")
            index = int(self.device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise ConfigError(f"device {self.device!r}: there are {torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
        return self.device


def cache_dir() -> Path:
    """gestsearch's folder in the user's cache (``$XDG_CACHE_HOME``, else ``~/.cache``): files
    that can always be made again (mp4 cuts, file digests)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gestsearch"


def _config_path(given: Path | None) -> tuple[Path | None, bool]:
    """The config file to read and whether the user named it (then it must exist)."""
    if given is not None:
        return Path(given).expanduser(), True
    named = os.environ.get("GESTSEARCH_CONFIG")
    if named:
        return Path(named).expanduser(), True
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "gestsearch" / "config.toml", False


def _read_config(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text (TOML files are UTF-8)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
