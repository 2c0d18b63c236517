"""Inference backends for GestSync's per-frame features.

torch is the reference, and the backend on a GPU. On the CPU, OpenVINO runs the same weights
faster (benchmarks/README.md, "GestSync inference backend"): the loaded torch module is converted
on first use (no files are shipped or written) and compiled once per process. GestSync's own
streaming code drives the compiled parts (:class:`~gestsearch.models.gestsync.Kernels`), so
padding, chunking and windowing stay one implementation.

fp32 is the default and matches the goldens' tolerances; on CUDA it is IEEE fp32 (cuDNN would
otherwise run convolutions in TF32, about 1e-3 relative). bf16 is an opt-in where the hardware
computes in bfloat16 natively: OpenVINO's bf16 on the CPU, torch autocast on CUDA GPUs of compute
capability 8.0 on (and on the CPU with the torch backend). Elsewhere it is refused rather than
emulated. Against fp32, bf16 keeps GestSync's features within cosine 0.999 and 2 % relative
error, and the L2-normalised gesture embeddings within cosine 0.999 and 0.005 per component
(tests/models/test_precision.py; measured on the CPU: 0.99997, 0.7 %, 0.99996, 0.0014).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal, TypeVar

import torch
from torch import nn

from gestsearch.errors import ConfigError
from gestsearch.models.gestsync import FRAME_SHAPE, GestSync, Kernels
from gestsearch.runtime import environment
from gestsearch.types import InferenceBackend, Precision

if TYPE_CHECKING:
    import openvino as ov

CPUINFO = Path("/proc/cpuinfo")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bfloat16 arithmetic
CUDA_BF16_CAPABILITY = (8, 0)  # Ampere on: bfloat16 tensor cores
RUNTIME_CACHE_SHAPES = 16  # input shapes whose kernels OpenVINO keeps (its default: 5,000)
_OPENVINO_PRECISION = {"fp32": "f32", "bf16": "bf16"}  # OpenVINO's CPU plugin defaults to bf16 where it can: always say
_IMPORT_LOCK = threading.Lock()
_COMPILED: weakref.WeakKeyDictionary[GestSync, dict[tuple[Precision, int], Kernels]] = weakref.WeakKeyDictionary()

T = TypeVar("T")


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def import_openvino() -> ModuleType:
    """``openvino``, imported with the usage telemetry of its tools declined. A plain import sends an
    event to Google Analytics (unless the user has run ``opt_in_out --opt_out``) from a child
    process that a thread forks: an archive indexer sends nothing anywhere, and a fork from a
    process full of threads can deadlock (LanceDB warns of it). The switch is the telemetry
    library's own ``disable_in_ci``, which reads ``CI`` while the import runs."""
    with _IMPORT_LOCK:
        if "openvino" not in sys.modules:
            with environment(CI="true"):
                importlib.import_module("openvino")
    return sys.modules["openvino"]


def native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU has bfloat16 instructions (AVX512_BF16 or AMX), from its ``flags`` line."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.partition(":")[2].split()}
    return any(flag in flags for flag in BF16_FLAGS)


def resolve_backend(
    backend: InferenceBackend, precision: Precision, device: str, cpuinfo: Path = CPUINFO
) -> Literal["torch", "openvino"]:
    """The backend that runs GestSync on ``device``: ``auto`` is OpenVINO on the CPU when it is
    installed, torch otherwise. Combinations that cannot run are a :class:`ConfigError`."""
    on_cpu = torch.device(device).type == "cpu"
    if backend == "auto":
        backend = "openvino" if on_cpu and openvino_available() else "torch"
    if backend == "openvino" and not on_cpu:
        raise ConfigError(f"the openvino backend runs on the CPU; device {device!r} runs GestSync with torch (use --backend auto or torch)")
    if backend == "openvino" and not openvino_available():
        raise ConfigError("backend 'openvino': the openvino package is not installed (pip install openvino)")
    if precision == "bf16":
        if on_cpu and not native_bf16(cpuinfo):
            raise ConfigError(f"precision bf16: this CPU has no native bfloat16 arithmetic ({' or '.join(BF16_FLAGS)}); use fp32")
        if not on_cpu and torch.cuda.is_available() and torch.cuda.get_device_capability(device) < CUDA_BF16_CAPABILITY:
            raise ConfigError(f"precision bf16: GPU {device!r} has no bfloat16 tensor cores (compute capability 8.0 on); use fp32")
    return backend


def configure_cuda() -> None:
    """Make float32 work on CUDA IEEE fp32, for convolutions as for matrix products (cuDNN's default
    is TF32 for convolutions). Process-wide, as torch's flags are; bf16 work runs under autocast.
    torch's older flags, not the newer ``fp32_precision`` ones: with only cuDNN's conv setting
    changed those make torch's own reads of the older flags (``torch.backends.cudnn.flags()``) raise."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def autocast(device: str, precision: Precision) -> AbstractContextManager:
    """The torch backend's arithmetic for ``precision`` on ``device``: bf16 autocast, or nothing."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def each_under(context: Callable[[], AbstractContextManager], items: Iterator[T]) -> Iterator[T]:
    """The items of ``items``, each one computed inside a fresh ``context()``. Autocast state is
    thread-local: a context held across ``yield`` would also cover the caller's code."""
    while True:
        with context():
            try:
                item = next(items)
            except StopIteration:
                return
        yield item


def openvino_kernels(model: GestSync, precision: Precision = "fp32", threads: int = 1) -> Kernels:
    """GestSync's trunk and window transformer compiled by OpenVINO from ``model``'s weights, on
    ``threads`` inference threads. Built once per model, precision and thread count in a process;
    later changes to the weights are not seen (inference only)."""
    compiled = _COMPILED.setdefault(model, {})
    if (precision, threads) not in compiled:
        compiled[precision, threads] = _compile(model, precision, threads)
    return compiled[precision, threads]


class _Traced(nn.Module):
    """One of GestSync's methods, with fixed keyword arguments, as a module to trace, the model
    inside for its weights."""

    def __init__(self, model: GestSync, method: str, **kwargs):
        super().__init__()
        self.model = model
        self.method = method
        self.kwargs = kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x, **self.kwargs)


def _compile(model: GestSync, precision: Precision, threads: int) -> Kernels:
    ov = import_openvino()

    height, width, _ = FRAME_SHAPE
    span, dim = model.config.steps_per_window, model.config.dim
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # The traced graph should hold plain ops, not torch's fused encoder kernel, so that OpenVINO
    # fuses attention its own way.
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        windows = _convert(_Traced(model, "window_means").eval(), torch.zeros(2, span, dim), [-1, span, dim])
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    # the runtime cache keeps compiled kernels per input shape, and every video brings new ones
    # (its last chunk, its last batch of windows): bounded, the indexer's memory stays flat
    config = {"INFERENCE_PRECISION_HINT": _OPENVINO_PRECISION[precision], "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_NUM_THREADS": threads, "CPU_RUNTIME_CACHE_CAPACITY": RUNTIME_CACHE_SHAPES}
    core = ov.Core()
    windows_model = core.compile_model(windows, "CPU", config)
    trunks: dict[int, ov.CompiledModel] = {}  # one graph per mask band (GestSync.mask_band), made when first met

    def trunk_model(band: int) -> ov.CompiledModel:
        if band not in trunks:
            # the frames as they come, (1, T, H, W, 3): OpenVINO moves the channels inside its graph for
            # less than a copy to NCDHW costs before it (a fresh 100 MB a chunk: 5.3 against 7-9 ms a step)
            traced = _Traced(model, "trunk_steps", band=band).eval()
            trunks[band] = core.compile_model(_convert(traced, torch.zeros(1, 5, height, width, 3), [1, -1, height, width, 3]),
                                              "CPU", config)
        return trunks[band]

    def steps(frames: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(trunk_model(model.mask_band(frames))(frames.contiguous().numpy())[0])

    def window_means(windows: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(windows_model(windows.contiguous().numpy())[0])

    return Kernels(steps, window_means)


def _convert(module: nn.Module, example: torch.Tensor, shape: list[int]) -> ov.Model:
    """``module`` as an ``openvino.Model`` taking inputs of ``shape`` (−1: any size).

    OpenVINO's PyTorch frontend directly, on a graph traced here: ``openvino.convert_model`` runs
    the same frontend but took ten times as long for the same compiled speed (offline passes the
    CPU plugin repeats when compiling), and torch's re-run check of the trace doubled it again.
    """
    ov = import_openvino()
    from openvino.frontend import FrontEndManager
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the position table's length check: a constant 21 steps
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.trace's; OpenVINO's torch frontend reads its graphs
        traced = torch.jit.trace(module, example, check_trace=False)
        decoder = TorchScriptPythonDecoder(traced, example_input=(example,))  # must outlive the conversion
        frontend = FrontEndManager().load_by_framework("pytorch")
        converted = frontend.convert(frontend.load(decoder))
    converted.reshape([ov.Dimension(n) for n in shape])
    return converted
