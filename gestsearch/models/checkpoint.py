"""Reading and writing checkpoints in the official format.

Official files are ``torch.save({"state_dict": {"module." + key: tensor}})`` with the released
code's parameter names. Our modules use their own names; ``KeyMap`` translates both ways.
Files written by gestsearch (fine-tuned or tiny models) use the same format, plus a
``"gestsearch"`` entry with the model preset (plain types, safe under ``weights_only``).

torch is imported by the functions that build modules, not by this module: the key maps, the
hashing and :func:`read_arrays` serve the cold text query, which runs without torch
(``gestsearch.models.numpy_text``).
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gestsearch.atomic import atomic_path
from gestsearch.errors import CheckpointError

if TYPE_CHECKING:
    import torch
    from torch import nn


class KeyMap:
    """Ordered prefix renames ``official ↔ ours``; ``{n}`` stands for a layer number.

    The first matching rule wins, so specific rules go before general ones.
    """

    def __init__(self, rules: Iterable[tuple[str, str]]):
        self.rules = [(self._compile(a), b, self._compile(b), a) for a, b in rules]

    @staticmethod
    def _compile(prefix: str) -> re.Pattern:
        return re.compile("^" + re.escape(prefix).replace(r"\{n\}", r"(?P<n>\d+)"))

    @staticmethod
    def _rename(key: str, rules) -> str:
        for pattern, template in rules:
            m = pattern.match(key)
            if m:
                return template.replace("{n}", m.groupdict().get("n") or "") + key[m.end() :]
        return key

    def to_ours(self, key: str) -> str:
        return self._rename(key, [(a, b) for a, b, _, _ in self.rules])

    def to_official(self, key: str) -> str:
        return self._rename(key, [(b, a) for _, _, b, a in self.rules])


def _prenorm_rules(official: str, ours: str) -> list[tuple[str, str]]:
    block = f"{ours}.blocks.{{n}}"
    return [
        (f"{official}.layers.{{n}}.self_attn.linears.0.", f"{block}.attn.query."),
        (f"{official}.layers.{{n}}.self_attn.linears.1.", f"{block}.attn.key."),
        (f"{official}.layers.{{n}}.self_attn.linears.2.", f"{block}.attn.value."),
        (f"{official}.layers.{{n}}.self_attn.linears.3.", f"{block}.attn.out."),
        (f"{official}.layers.{{n}}.feed_forward.w_1.", f"{block}.ffn.fc1."),
        (f"{official}.layers.{{n}}.feed_forward.w_2.", f"{block}.ffn.fc2."),
        (f"{official}.layers.{{n}}.sublayer.0.norm.a_2", f"{block}.attn_norm.gain"),
        (f"{official}.layers.{{n}}.sublayer.0.norm.b_2", f"{block}.attn_norm.shift"),
        (f"{official}.layers.{{n}}.sublayer.1.norm.a_2", f"{block}.ffn_norm.gain"),
        (f"{official}.layers.{{n}}.sublayer.1.norm.b_2", f"{block}.ffn_norm.shift"),
        (f"{official}.norm.a_2", f"{ours}.norm.gain"),
        (f"{official}.norm.b_2", f"{ours}.norm.shift"),
    ]


GESTSYNC_KEYS = KeyMap(
    [
        ("net_vid.fc6.", "trunk.block6.conv."),
        ("net_vid.bn6.", "trunk.block6.norm."),
        ("net_vid.conv{n}.", "trunk.block{n}.conv."),
        ("net_vid.bn{n}.", "trunk.block{n}.norm."),
        ("pos_encoder.pe", "positions.table"),
        ("transformer_encoder.", "transformer."),
        ("ff_vid.0.", "head.fc1."),
        ("ff_vid.2.", "head.fc2."),
        ("net_aud.fc6.", "audio.trunk.block6.conv."),
        ("net_aud.bn6.", "audio.trunk.block6.norm."),
        ("net_aud.conv{n}.", "audio.trunk.block{n}.conv."),
        ("net_aud.bn{n}.", "audio.trunk.block{n}.norm."),
        ("lstm.", "audio.lstm."),
        ("ff_aud.fc7.", "audio.head.fc1."),
        ("ff_aud.bn7.", "audio.head.norm."),
        ("ff_aud.fc8.", "audio.head.fc2."),
        ("logits_scale.", "audio.logit_scale."),
        ("fc.", "audio.sync_fc."),
    ]
)

JEGAL_KEYS = KeyMap(
    [
        ("proj_ip_rgb.0.", "gesture.input.fc1."),
        ("proj_ip_rgb.1.", "gesture.input.norm."),
        ("proj_ip_rgb.3.", "gesture.input.fc2."),
        ("position_rgb.pe", "gesture.positions.table"),
        *_prenorm_rules("encoder_rgb", "gesture.encoder"),
        ("proj_op_rgb.", "gesture.output."),
        *_prenorm_rules("encoder_text", "text.encoder"),
        ("proj_op_text.", "text.output."),
        # speech CNN: official Sequential indices 0,3,..,15 (conv) and 1,4,..,13 (BatchNorm)
        *[(f"cnn.{3 * i}.", f"speech.cnn.{i}.conv.") for i in range(5)],
        *[(f"cnn.{3 * i + 1}.", f"speech.cnn.{i}.norm.") for i in range(5)],
        ("cnn.15.", "speech.cnn.5."),
        ("proj_op_audio.", "speech.output."),
        ("proj_op_fusion_content.0.", "fusion.fc1."),
        ("proj_op_fusion_content.2.", "fusion.fc2."),
        ("proj_op_align_gesture.0.", "gesture_align.fc1."),
        ("proj_op_align_gesture.2.", "gesture_align.fc2."),
        ("proj_op_align_content.0.", "content_align.fc1."),
        ("proj_op_align_content.2.", "content_align.fc2."),
    ]
)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load an official-format file safely (``weights_only``: a checkpoint never runs code)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, random bytes, pickled code, another format...
        # PyTorch's own message suggests weights_only=False, which would run code the file carries
        if isinstance(e, pickle.UnpicklingError) and "GLOBAL" in str(e):
            reason = "it holds Python objects besides weights, which are never loaded (they could run code)"
        else:
            reason = "truncated, damaged or another kind of file"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint: {reason}") from e
    if not isinstance(data, dict) or not isinstance(data.get("state_dict"), dict):
        raise CheckpointError(f"{path}: no 'state_dict' entry; not a GestSync/JEGAL checkpoint")
    return data


def load_official_state(model: nn.Module, state: dict[str, torch.Tensor], keymap: KeyMap, path: object) -> None:
    """Strictly load official-named weights (``module.`` prefix optional) into ``model``."""
    import torch

    ours = {keymap.to_ours(k.removeprefix("module.")): v for k, v in state.items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in ours]
    unexpected = [k for k in ours if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {', '.join(keymap.to_official(k) for k in missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {', '.join(keymap.to_official(k) for k in unexpected[:3])})")
        raise CheckpointError(f"{path}: does not fit {type(model).__name__}: {'; '.join(parts)}")
    for k, v in ours.items():
        if not isinstance(v, torch.Tensor) or v.shape != expected[k].shape:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise CheckpointError(
                f"{path}: {keymap.to_official(k)} has shape {shape}, expected {tuple(expected[k].shape)}"
            )
    model.load_state_dict(ours, strict=True)


def save_official(model: nn.Module, keymap: KeyMap, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write ``model`` in the official format, atomically (temp file + rename)."""
    import torch

    state = {"module." + keymap.to_official(k): v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, **(extra or {})}, tmp)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading without torch -------------------------------------------------------------------
class UnsupportedCheckpoint(CheckpointError):
    """A checkpoint :func:`read_arrays` cannot read (not torch's zip format, or objects other than
    tensors and plain containers); ``torch.load`` may still read it."""


_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64, "LongStorage": np.int64,
    "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_, "BFloat16Storage": np.uint16,  # bfloat16: the high half of a float32
}


@dataclass(frozen=True)
class StoredTensor:
    """A tensor of a ``torch.save`` file, read from the zip only when :meth:`array` is called."""

    archive: zipfile.ZipFile
    entry: str  # the zip member holding its storage
    storage: str  # torch's storage class name
    offset: int  # in elements
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        """The tensor as a new numpy array; bfloat16 and float16 become float32."""
        dtype = np.dtype(_STORAGE_DTYPES[self.storage])
        data = np.frombuffer(self.archive.read(self.entry), dtype)
        strides = tuple(s * dtype.itemsize for s in self.stride)
        out = np.lib.stride_tricks.as_strided(data[self.offset :], self.shape, strides).copy()
        if self.storage == "BFloat16Storage":
            return (out.astype(np.uint32) << 16).view(np.float32)
        return out.astype(np.float32) if out.dtype == np.float16 else out


class _LazyUnpickler(pickle.Unpickler):
    """``weights_only``'s allow-list: containers and tensors; each tensor a :class:`StoredTensor`."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, requires_grad, hooks: data
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise UnsupportedCheckpoint(f"holds {module}.{name}, which only torch.load reads")

    def persistent_load(self, pid):
        _, storage, key, _, _ = pid  # ("storage", class name, key, location, numel)
        return storage, f"{self.prefix}/data/{key}"

    def _tensor(self, storage, offset, shape, stride, *_) -> StoredTensor:
        name, entry = storage
        return StoredTensor(self.archive, entry, name, offset, tuple(shape), tuple(stride))


def read_arrays(
    path: str | os.PathLike, wanted: Callable[[str], bool] = lambda key: True
) -> tuple[dict[str, np.ndarray], dict]:
    """An official-format checkpoint without torch: its state dict as numpy arrays, only the entries
    whose key (as in the file, ``module.`` prefix removed) ``wanted`` accepts, and the file's other
    entries (plain data, such as gestsearch's preset).

    The same allow-list as :func:`read_checkpoint`'s ``weights_only``; what it does not cover is an
    :class:`UnsupportedCheckpoint` (the torch path can then say what is wrong).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise UnsupportedCheckpoint(f"{path}: not torch's zip format")
            with archive.open(pickles[0]) as f:
                data = _LazyUnpickler(f, archive, pickles[0].rpartition("/")[0]).load()
            state = data.get("state_dict") if isinstance(data, dict) else None
            if not isinstance(state, dict):
                raise CheckpointError(f"{path}: no 'state_dict' entry; not a GestSync/JEGAL checkpoint")
            out = {}
            for key, value in state.items():
                key = key.removeprefix("module.")
                if wanted(key):
                    if not isinstance(value, StoredTensor):
                        raise UnsupportedCheckpoint(f"{path}: {key} is not a tensor")
                    out[key] = value.array()
            return out, {k: v for k, v in data.items() if k != "state_dict"}
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as e:
        raise UnsupportedCheckpoint(f"{path}: not readable without torch ({type(e).__name__})") from e
