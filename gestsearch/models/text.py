"""The subword backbone of JEGAL's text path (XLM-R base in the paper), frozen there.

It reads a Hugging Face model directory (``config.json``, ``model.safetensors`` or
``pytorch_model.bin``, ``tokenizer.json``) without the ``transformers`` package, whose import
alone costs a cold query about 1.5 s: the tokenizer (``gestsearch.models.subwords``) runs on the
``tokenizers`` library, and the encoder is the XLM-R module below, with ``XLMRobertaModel``'s
state-dict keys. Indexing, search,
eval and training all run this one module; tests/models/test_text_backbone.py checks that it
gives transformers' tokens and hidden states.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gestsearch.atomic import atomic_path, write_text
from gestsearch.errors import CheckpointError
from gestsearch.models.subwords import SubwordTokenizer, TokenBatch, XLMRobertaConfig, text_key


# -- encoder -----------------------------------------------------------------------------------
class XLMRobertaEmbeddings(nn.Module):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.padding_idx = config.pad_token_id
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # RoBERTa numbers the real tokens from padding_idx + 1; padding keeps padding_idx
        real = input_ids.ne(self.padding_idx).int()
        positions = torch.cumsum(real, dim=1).type_as(real) * real + self.padding_idx
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(torch.zeros_like(input_ids))
        x = x + self.position_embeddings(positions.long())
        return self.dropout(self.LayerNorm(x))


class XLMRobertaSelfAttention(nn.Module):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(B, L, H), keep (B, 1, 1, L) bool → (B, L, H)."""
        b, n, _ = x.shape
        q, k, v = (proj(x).view(b, n, self.heads, -1).transpose(1, 2) for proj in (self.query, self.key, self.value))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=self.dropout_p if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, n, -1)


class XLMRobertaAddNorm(nn.Module):
    """Linear → dropout → + residual → LayerNorm (transformers' SelfOutput and Output)."""

    def __init__(self, config: XLMRobertaConfig, dim_in: int):
        super().__init__()
        self.dense = nn.Linear(dim_in, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class XLMRobertaAttention(nn.Module):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.self = XLMRobertaSelfAttention(config)
        self.output = XLMRobertaAddNorm(config, config.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, keep), x)


class XLMRobertaIntermediate(nn.Module):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class XLMRobertaLayer(nn.Module):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.attention = XLMRobertaAttention(config)
        self.intermediate = XLMRobertaIntermediate(config)
        self.output = XLMRobertaAddNorm(config, config.intermediate_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


class XLMRobertaEncoder(nn.Module):
    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.layer = nn.ModuleList(XLMRobertaLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, keep)
        return x


class XLMRobertaModel(nn.Module):
    """XLM-R without the pooler: token ids → last hidden states."""

    def __init__(self, config: XLMRobertaConfig):
        super().__init__()
        self.config = config
        self.embeddings = XLMRobertaEmbeddings(config)
        self.encoder = XLMRobertaEncoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and mask (1: token, 0: padding) → (B, L, hidden)."""
        keep = attention_mask.bool()[:, None, None, :]
        return self.encoder(self.embeddings(input_ids), keep)

    def init_weights(self) -> None:
        """transformers' initialisation, from the global torch RNG: N(0, initializer_range) weights,
        zero biases and padding rows, unit LayerNorms."""
        std = self.config.initializer_range
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    module.weight.normal_(0.0, std)
                if isinstance(module, nn.Linear):
                    module.bias.zero_()
                elif isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
                elif isinstance(module, nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()


def hf_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers XLM-R state dict in this module's keys (:func:`~gestsearch.models.subwords.text_key`)."""
    return {ours: value for key, value in state.items() if (ours := text_key(key)) is not None}


# -- backbone ----------------------------------------------------------------------------------
@dataclass
class Subwords:
    hidden: torch.Tensor  # (1, L, hidden) backbone output
    mask: torch.Tensor  # (1, L) attention mask
    word_starts: list[int]  # token positions that start a word (offset 0, not <s>/</s>/<pad>)


@dataclass
class SubwordBatch:
    hidden: torch.Tensor  # (B, L, hidden) backbone output, padded to the longest phrase
    mask: torch.Tensor  # (B, L) attention mask
    tokens: TokenBatch  # what the tokenizer made of the phrases


class TextBackbone:
    """Tokenizer + encoder from a local Hugging Face model directory or a hub id.

    Not an ``nn.Module`` attribute of JEGAL on purpose: its weights are not part of the
    JEGAL checkpoint.
    """

    def __init__(self, tokenizer: SubwordTokenizer, model: XLMRobertaModel, name: str):
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.name = name
        self.max_tokens = model.config.max_position_embeddings - 2

    @classmethod
    def load(cls, name_or_dir: str | os.PathLike, device: str | torch.device = "cpu") -> TextBackbone:
        name = str(name_or_dir)
        directory = Path(name).expanduser()
        try:
            if not directory.is_dir():
                directory = _hub_snapshot(name)
            tokenizer = SubwordTokenizer.from_dir(directory)
            config = XLMRobertaConfig.from_dir(directory)
            model = XLMRobertaModel(config)
            model.load_state_dict(hf_state_dict(_read_weights(directory)))
        except (OSError, ValueError, RuntimeError, CheckpointError) as e:
            hint = "" if Path(name).expanduser().is_dir() else " (download it once with network access, or pass a local directory)"
            detail = " ".join(str(e).split())  # torch's load_state_dict lists its complaints on several lines
            raise CheckpointError(f"cannot load text model {name!r}{hint}: {detail[:300]}") from e
        return cls(tokenizer, model.to(device), name)

    def save(self, directory: str | os.PathLike) -> None:
        """Write a Hugging Face model directory that :meth:`load` (and transformers) reads back."""
        from safetensors.torch import save_file

        directory = Path(directory)
        with atomic_path(directory / "model.safetensors") as tmp:
            save_file({k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}, str(tmp), {"format": "pt"})
        write_text(directory / "config.json", json.dumps(self.model.config.to_dict(), indent=2) + "\n")
        self.tokenizer.save(directory)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def subwords(self, words: list[str]) -> Subwords:
        """Encode one phrase given as words (the released code splits the text on single spaces)."""
        batch = self.encode([words])
        return Subwords(batch.hidden, batch.mask, batch.tokens.word_starts[0])

    def encode(self, phrases: list[list[str]]) -> SubwordBatch:
        """Encode phrases together, padded to the longest; differentiable (training runs it with grad).

        Padding is masked, so each phrase gets the same vectors as when it is encoded alone.
        """
        tokens = self.tokenizer.batch(phrases, self.max_tokens)
        mask = torch.from_numpy(tokens.mask).to(self.device)
        hidden = self.model(torch.from_numpy(tokens.ids).to(self.device), mask)
        return SubwordBatch(hidden, mask, tokens)


def _hub_snapshot(repo_id: str) -> Path:
    """The local copy of a hub model (downloaded on first use unless HF_HUB_OFFLINE is set)."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors"]))


def _read_weights(directory: Path) -> dict[str, torch.Tensor]:
    if (directory / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(directory / "model.safetensors"))
    if (directory / "pytorch_model.bin").is_file():
        return torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise CheckpointError(f"{directory}: no model.safetensors or pytorch_model.bin")
