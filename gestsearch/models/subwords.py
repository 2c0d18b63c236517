"""The input side of JEGAL's text path, without torch: XLM-R's tokenizer and config as read from a
Hugging Face model directory, and the rule that turns subword tokens into words.

The torch encoder (``gestsearch.models.text``) and the numpy one that answers cold text queries
(``gestsearch.models.numpy_text``) both start here, so they see the same tokens and word spans.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from gestsearch.atomic import atomic_path, write_text
from gestsearch.errors import CheckpointError, ModelInputError

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}  # XLM-R's


@dataclass
class XLMRobertaConfig:
    """The fields of a ``config.json`` the encoder uses; defaults as in transformers."""

    vocab_size: int = 250002
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    initializer_range: float = 0.02
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    order_free: bool = False  # the position table is zero and stays so (gestsearch.train.tokenizer)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> XLMRobertaConfig:
        for key, supported in (("hidden_act", "gelu"), ("position_embedding_type", "absolute")):
            if data.get(key, supported) != supported:
                raise CheckpointError(f"text model: {key} {data[key]!r} is not supported (only {supported!r})")
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    @classmethod
    def from_dir(cls, directory: Path) -> XLMRobertaConfig:
        return cls.from_dict(json.loads((directory / "config.json").read_text()))

    def to_dict(self) -> dict[str, Any]:
        return {"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_act": "gelu", **asdict(self)}


def check_words(words: Sequence[str]) -> None:
    """A phrase given as words, as the text path takes it: at least one, each without spaces."""
    if not words or any(w.split() != [w] for w in words):
        raise ModelInputError("words must be a non-empty list of non-empty words without spaces")


def text_key(key: str) -> str | None:
    """A transformers XLM-R weight name (``XLMRobertaModel`` or the hub's masked-LM checkpoint) in
    the encoder's names: the ``roberta.`` prefix off, old ``LayerNorm.gamma/beta`` names renamed;
    None for what hidden states do not use (the pooler, the LM head, the position-id buffer)."""
    key = key.removeprefix("roberta.")
    if key.startswith(("pooler.", "lm_head.")) or key == "embeddings.position_ids":
        return None
    return key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


@dataclass
class TokenBatch:
    """Phrases given as words, tokenized with special tokens and padded at the end to the longest."""

    ids: np.ndarray  # (B, L) int64, padding = the pad token
    mask: np.ndarray  # (B, L) int64: 1 token, 0 padding
    word_starts: list[list[int]]  # per phrase, the token positions that start a word (offset 0, not <s>/</s>/<pad>)
    lengths: list[int]  # tokens per phrase (<s> and </s> included)

    def word_spans(self, phrases: list[list[str]]) -> list[list[tuple[int, int]]]:
        """Per phrase, each word's token span ``(start, end)``: word w runs from its start to the
        next word's start; the last word runs to the end of the sequence (including ``</s>``), as in
        the released code. A word split as '▁' + pieces yields an extra start that shifts the
        following words, and the surplus starts still cut the last word short (also as released;
        the weights were trained that way)."""
        spans = []
        for words, starts, length in zip(phrases, self.word_starts, self.lengths):
            if len(starts) < len(words):
                raise ModelInputError(f"the text model found only {len(starts)} word starts in {len(words)} words")
            bounds = starts + [length]
            spans.append(list(zip(bounds[: len(words)], bounds[1 : len(words) + 1])))
        return spans


class SubwordTokenizer:
    """A fast tokenizer (``tokenizer.json``, run by the ``tokenizers`` library) with XLM-R's special
    tokens; calls and token-id names as in transformers."""

    def __init__(self, core, special_tokens: dict[str, str] | None = None, model_max_length: int | None = None):
        self.core = core  # tokenizers.Tokenizer
        self.core.no_padding()  # padding and truncation are per call, as in transformers
        self.core.no_truncation()
        self.special_tokens = {**SPECIAL_TOKENS, **(special_tokens or {})}
        self.model_max_length = model_max_length
        ids = {name: core.token_to_id(token) for name, token in self.special_tokens.items()}
        if None in ids.values():
            missing = [self.special_tokens[name] for name, i in ids.items() if i is None]
            raise CheckpointError(f"the tokenizer has no {', '.join(missing)} token")
        self.bos_token_id, self.eos_token_id = ids["bos_token"], ids["eos_token"]
        self.pad_token_id, self.unk_token_id = ids["pad_token"], ids["unk_token"]
        self.special_ids = {self.bos_token_id, self.eos_token_id, self.pad_token_id}

    @classmethod
    def from_dir(cls, directory: Path) -> SubwordTokenizer:
        from tokenizers import Tokenizer

        if not (directory / "tokenizer.json").is_file():
            raise CheckpointError(f"{directory}: no tokenizer.json (a fast tokenizer is needed for word offsets)")
        config_file = directory / "tokenizer_config.json"
        config = json.loads(config_file.read_text()) if config_file.is_file() else {}
        # transformers writes a special token as a string or as {"content": ...}
        specials = {name: (config[name]["content"] if isinstance(config[name], dict) else config[name])
                    for name in SPECIAL_TOKENS if config.get(name)}
        return cls(Tokenizer.from_file(str(directory / "tokenizer.json")), specials, config.get("model_max_length"))

    def __len__(self) -> int:
        return self.core.get_vocab_size(with_added_tokens=True)

    def __call__(self, text: str | list[str], add_special_tokens: bool = True, is_split_into_words: bool = False) -> dict[str, list]:
        """One text, or one phrase given as words: its ``input_ids`` and ``offset_mapping``."""
        enc = self.core.encode(text, is_pretokenized=is_split_into_words, add_special_tokens=add_special_tokens)
        return {"input_ids": enc.ids, "offset_mapping": enc.offsets}

    def unknown(self, words: list[str]) -> set[str]:
        """The words this tokenizer can spell only with its unknown token."""
        return {w for w in words if self.unk_token_id in self(w, add_special_tokens=False)["input_ids"]}

    def batch(self, phrases: list[list[str]], max_tokens: int | None = None) -> TokenBatch:
        """Phrases given as words → :class:`TokenBatch`; a phrase longer than ``max_tokens`` is a
        :class:`ModelInputError`."""
        encodings = self.core.encode_batch(phrases, is_pretokenized=True)
        lengths = [len(e.ids) for e in encodings]
        if max_tokens is not None and max(lengths) > max_tokens:
            raise ModelInputError(f"phrase is too long for the text model ({max(lengths)} tokens, max {max_tokens})")
        ids = np.full((len(encodings), max(lengths)), self.pad_token_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        starts = [[i for i, (tok, (begin, _)) in enumerate(zip(e.ids, e.offsets)) if begin == 0 and tok not in self.special_ids]
                  for e in encodings]
        return TokenBatch(ids, mask, starts, lengths)

    def save(self, directory: Path) -> None:
        with atomic_path(directory / "tokenizer.json") as tmp:
            self.core.save(str(tmp))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", **self.special_tokens}  # a name transformers 4 and 5 know
        if self.model_max_length is not None:
            config["model_max_length"] = self.model_max_length
        write_text(directory / "tokenizer_config.json", json.dumps(config, indent=2) + "\n")
