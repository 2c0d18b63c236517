"""JEGAL's text path in numpy, for cold text queries: importing torch alone takes about 2 s on a
2-core machine, the whole budget of a one-off `gestsearch search "…"` (benchmarks/README.md,
"Cold CLI search").

The same computation as the torch modules, from the same files, in float32: the XLM-R encoder of
``gestsearch.models.text``, then JEGAL's text encoder, the fusion head with the speech half zero
and the content alignment head (``gestsearch.models.jegal``, text-only content), then the L2
normalisation of ``Embedder.content``. One phrase at a time, so there is no padding to mask.
tests/models/test_numpy_text.py checks it against the torch path. Gesture and speech queries need
GestSync or the speech CNN and run on torch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from gestsearch.config import Settings
from gestsearch.errors import CheckpointError, ModelInputError
from gestsearch.models.checkpoint import JEGAL_KEYS, UnsupportedCheckpoint, read_arrays
from gestsearch.models.config import JegalConfig, preset_of
from gestsearch.models.identity import ModelInfo, fingerprint, resolve_checkpoints
from gestsearch.models.subwords import SubwordTokenizer, XLMRobertaConfig, check_words, text_key
from gestsearch.types import ContentModalities
from gestsearch.vectors import l2_normalize

Weights = dict[str, np.ndarray]
CONTENT_HEADS = ("text.", "fusion.", "content_align.")  # JEGAL's modules a text query runs
STD_NORM_EPS = 1e-6  # JEGAL's layer norm (gestsearch.models.layers.StdLayerNorm)

_erf = np.vectorize(math.erf, otypes=[np.float64])  # exact; numpy has no erf and scipy costs an import


def linear(x: np.ndarray, w: Weights, name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def layer_norm(x: np.ndarray, w: Weights, name: str, eps: float) -> np.ndarray:
    """torch's LayerNorm: biased variance, eps inside the square root."""
    centred = x - x.mean(-1, keepdims=True)
    return centred / np.sqrt((centred**2).mean(-1, keepdims=True) + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]


def std_layer_norm(x: np.ndarray, w: Weights, name: str) -> np.ndarray:
    """JEGAL's: unbiased standard deviation, eps added to it."""
    centred = x - x.mean(-1, keepdims=True)
    return w[f"{name}.gain"] * centred / (x.std(-1, ddof=1, keepdims=True) + STD_NORM_EPS) + w[f"{name}.shift"]


def gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(np.float32)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int) -> np.ndarray:
    """(L, D) queries, keys, values → (L, D): softmax(q kᵀ / √d) v per head, every key visible."""
    n, dim = q.shape
    q, k, v = (t.reshape(n, heads, dim // heads).transpose(1, 0, 2) for t in (q, k, v))  # (H, L, d)
    scores = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(dim // heads))
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return (weights @ v).transpose(1, 0, 2).reshape(n, dim)


class NumpyXLMR:
    """``XLMRobertaModel`` (gestsearch.models.text): token ids of one phrase → last hidden states."""

    def __init__(self, config: XLMRobertaConfig, weights: Weights):
        self.config, self.w = config, weights

    @classmethod
    def from_dir(cls, directory: Path) -> NumpyXLMR:
        """From a Hugging Face directory's ``model.safetensors`` (other layouts: torch's loader)."""
        from safetensors import safe_open

        file = directory / "model.safetensors"
        if not file.is_file():
            raise UnsupportedCheckpoint(f"{directory}: no model.safetensors")
        with safe_open(str(file), framework="numpy") as f:
            names = f.keys()  # safe_open is not iterable
            weights = {ours: f.get_tensor(key).astype(np.float32) for key in names if (ours := text_key(key)) is not None}
        return cls(XLMRobertaConfig.from_dir(directory), weights)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """(L,) int token ids, no padding → (L, hidden) float32."""
        c, w = self.config, self.w
        positions = np.arange(1, len(ids) + 1) + c.pad_token_id  # RoBERTa numbers real tokens from padding_idx + 1
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][0]
             + w["embeddings.position_embeddings.weight"][positions])
        x = layer_norm(x, w, "embeddings.LayerNorm", c.layer_norm_eps)
        for i in range(c.num_hidden_layers):
            p = f"encoder.layer.{i}"
            q, k, v = (linear(x, w, f"{p}.attention.self.{n}") for n in ("query", "key", "value"))
            context = attention(q, k, v, c.num_attention_heads)
            x = layer_norm(linear(context, w, f"{p}.attention.output.dense") + x, w, f"{p}.attention.output.LayerNorm", c.layer_norm_eps)
            hidden = gelu(linear(x, w, f"{p}.intermediate.dense"))
            x = layer_norm(linear(hidden, w, f"{p}.output.dense") + x, w, f"{p}.output.LayerNorm", c.layer_norm_eps)
        return x


class NumpyContentHeads:
    """JEGAL's text encoder, fusion and content alignment (gestsearch.models.jegal) for text-only content."""

    def __init__(self, config: JegalConfig, weights: Weights):
        self.config, self.w = config, weights

    @classmethod
    def from_checkpoint(cls, path: Path) -> NumpyContentHeads:
        """The content heads of a JEGAL file in the official format; their weights only are read."""
        state, extra = read_arrays(path, lambda key: JEGAL_KEYS.to_ours(key).startswith(CONTENT_HEADS))
        config = preset_of(extra).jegal
        weights = {JEGAL_KEYS.to_ours(key): value for key, value in state.items()}
        expected = _content_head_shapes(config)
        wrong = [k for k, shape in expected.items() if k not in weights or weights[k].shape != shape]
        if wrong:
            raise UnsupportedCheckpoint(f"{path}: content heads do not fit (first: {JEGAL_KEYS.to_official(wrong[0])})")
        return cls(config, weights)

    def encoder(self, x: np.ndarray) -> np.ndarray:
        """(L, text.dim) backbone states → (L, word_dim): pre-norm blocks, final norm, projection."""
        w, heads = self.w, self.config.text.heads
        for i in range(self.config.text.depth):
            p = f"text.encoder.blocks.{i}"
            h = std_layer_norm(x, w, f"{p}.attn_norm")
            q, k, v = (linear(h, w, f"{p}.attn.{n}") for n in ("query", "key", "value"))
            x = x + linear(attention(q, k, v, heads), w, f"{p}.attn.out")
            x = x + self.mlp(std_layer_norm(x, w, f"{p}.ffn_norm"), f"{p}.ffn")
        return linear(std_layer_norm(x, w, "text.encoder.norm"), w, "text.output")

    def mlp(self, x: np.ndarray, name: str) -> np.ndarray:
        return linear(relu(linear(x, self.w, f"{name}.fc1")), self.w, f"{name}.fc2")

    def content(self, text_words: np.ndarray) -> np.ndarray:
        """(W, word_dim) text halves → (W, dim); the speech half is zero, as ``JEGAL.fuse`` makes it."""
        both = np.concatenate([np.zeros_like(text_words), text_words], axis=-1)
        return self.mlp(self.mlp(both, "fusion"), "content_align")


class NumpyTextEncoder:
    """Text content embeddings equal to ``Embedder.content(words, modalities="t")``, without torch."""

    device = "cpu"

    def __init__(self, tokenizer: SubwordTokenizer, backbone: NumpyXLMR, heads: NumpyContentHeads, info: ModelInfo):
        self.tokenizer, self.backbone, self.heads, self.info = tokenizer, backbone, heads, info
        self.max_tokens = backbone.config.max_position_embeddings - 2

    @classmethod
    def from_settings(cls, settings: Settings) -> NumpyTextEncoder:
        """The settings' models. Files this reader does not cover (a hub id, ``pytorch_model.bin``,
        a checkpoint holding more than tensors) raise :class:`UnsupportedCheckpoint`: torch's
        ``Embedder`` reads those. A missing file is the same :class:`CheckpointError` as there."""
        gestsync, jegal, text_model, name = resolve_checkpoints(settings)
        read_arrays(gestsync, lambda key: False)  # GestSync is not run, but a bad file still fails first
        directory = Path(text_model).expanduser()
        if not directory.is_dir():
            directory = downloaded_snapshot(text_model)
        try:
            tokenizer = SubwordTokenizer.from_dir(directory)
            backbone = NumpyXLMR.from_dir(directory)
        except (OSError, ValueError) as e:
            raise UnsupportedCheckpoint(f"text model {text_model!r}: {e}") from e
        heads = NumpyContentHeads.from_checkpoint(jegal)
        if heads.config.text.dim != backbone.config.hidden_size:
            raise CheckpointError(f"{jegal}: its text encoder takes {heads.config.text.dim}-d states, the text model gives {backbone.config.hidden_size}")
        return cls(tokenizer, backbone, heads, ModelInfo(name, fingerprint(gestsync, jegal, text_model)))

    def content(
        self,
        words: Sequence[str] | None = None,
        audio: np.ndarray | None = None,
        boundaries: Sequence[Sequence] | None = None,
        modalities: ContentModalities = "t",
    ) -> np.ndarray:
        """(W, 512) L2-normalised content embeddings of one phrase's words (text only)."""
        if modalities != "t" or audio is not None:
            raise ModelInputError("the numpy text encoder embeds text only; speech runs on torch")
        return l2_normalize(self.embed(words))

    def embed(self, words: Sequence[str]) -> np.ndarray:
        """(W, 512) content embeddings, not normalised: ``JEGAL.embed_content(words=...)``."""
        check_words(words)
        phrase = [list(words)]
        tokens = self.tokenizer.batch(phrase, self.max_tokens)
        hidden = self.heads.encoder(self.backbone(tokens.ids[0]))  # (L, word_dim)
        text_words = np.stack([hidden[a:b].mean(0) for a, b in tokens.word_spans(phrase)[0]])
        return self.heads.content(text_words)

    def gestures(self, frame_chunks: Iterable[np.ndarray]) -> np.ndarray:
        raise ModelInputError("the numpy text encoder does not run GestSync; gesture queries run on torch")


def downloaded_snapshot(repo_id: str) -> Path:
    """The local copy of a hub model that is already downloaded, found without ``huggingface_hub``
    (the hub cache's layout: ``models--ORG--NAME/refs/main`` names the snapshot folder);
    :class:`UnsupportedCheckpoint` when there is none, and torch's loader downloads it."""
    hub = os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface") / "hub"
    repo = Path(hub) / f"models--{repo_id.replace('/', '--')}"
    try:
        snapshot = repo / "snapshots" / (repo / "refs" / "main").read_text().strip()
    except OSError:
        snapshot = None
    if snapshot is None or not snapshot.is_dir():
        raise UnsupportedCheckpoint(f"text model {repo_id!r} is not downloaded")
    return snapshot


def _content_head_shapes(config: JegalConfig) -> dict[str, tuple[int, ...]]:
    t, dim, word = config.text, config.dim, config.word_dim
    shapes = {"text.output.weight": (word, t.dim), "text.output.bias": (word,),
              "text.encoder.norm.gain": (t.dim,), "text.encoder.norm.shift": (t.dim,)}
    for i in range(t.depth):
        p = f"text.encoder.blocks.{i}"
        for n in ("query", "key", "value", "out"):
            shapes |= {f"{p}.attn.{n}.weight": (t.dim, t.dim), f"{p}.attn.{n}.bias": (t.dim,)}
        for n in ("attn_norm", "ffn_norm"):
            shapes |= {f"{p}.{n}.gain": (t.dim,), f"{p}.{n}.shift": (t.dim,)}
        shapes |= {f"{p}.ffn.fc1.weight": (t.ffn, t.dim), f"{p}.ffn.fc1.bias": (t.ffn,),
                   f"{p}.ffn.fc2.weight": (t.dim, t.ffn), f"{p}.ffn.fc2.bias": (t.dim,)}
    for name, d_in in (("fusion", 2 * word), ("content_align", dim)):
        shapes |= {f"{name}.fc1.weight": (dim, d_in), f"{name}.fc1.bias": (dim,),
                   f"{name}.fc2.weight": (dim, dim), f"{name}.fc2.bias": (dim,)}
    return shapes
