"""The frozen subword backbone of JEGAL's text path (XLM-R base in the paper)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gestsearch.errors import CheckpointError, ModelInputError


@dataclass
class Subwords:
    hidden: torch.Tensor  # (1, L, hidden) backbone output
    mask: torch.Tensor  # (1, L) attention mask
    word_starts: list[int]  # token positions that start a word (offset 0, not <s>/</s>/<pad>)


@dataclass
class SubwordBatch:
    hidden: torch.Tensor  # (B, L, hidden) backbone output, padded to the longest phrase
    mask: torch.Tensor  # (B, L) attention mask
    word_starts: list[list[int]]  # per phrase, as in ``Subwords``
    lengths: list[int]  # tokens per phrase (<s> and </s> included)


class TextBackbone:
    """Tokenizer + encoder loaded with transformers from a local directory or a hub id.

    Not an ``nn.Module`` attribute of JEGAL on purpose: its weights are not part of the
    JEGAL checkpoint.
    """

    def __init__(self, tokenizer, model, name: str):
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.name = name
        self.special_ids = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
        self.max_tokens = int(getattr(model.config, "max_position_embeddings", 514)) - 2

    @classmethod
    def load(cls, name_or_dir: str | os.PathLike, device: str | torch.device = "cpu") -> TextBackbone:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        logging.set_verbosity_error()

        name = str(name_or_dir)
        local = Path(name).expanduser().is_dir()
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local or None)
            model = AutoModel.from_pretrained(name, local_files_only=local or None)
        except (OSError, ValueError) as e:
            hint = "" if local else " (download it once with network access, or pass a local directory)"
            raise CheckpointError(f"cannot load text model {name!r}{hint}: {str(e).splitlines()[0]}") from e
        if not getattr(tokenizer, "is_fast", False):
            raise CheckpointError(f"text model {name!r} has no fast tokenizer (tokenizer.json): word offsets are needed")
        return cls(tokenizer, model.to(device), name)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def subwords(self, words: list[str]) -> Subwords:
        """Encode one phrase given as words (the released code splits the text on single spaces)."""
        batch = self.encode([words])
        return Subwords(batch.hidden, batch.mask, batch.word_starts[0])

    def encode(self, phrases: list[list[str]]) -> SubwordBatch:
        """Encode phrases together, padded to the longest; differentiable (training runs it with grad).

        Padding is masked, so each phrase gets the same vectors as when it is encoded alone.
        """
        enc = self.tokenizer(
            phrases, is_split_into_words=True, return_offsets_mapping=True, padding=True, return_tensors="pt"
        )
        ids, mask = enc["input_ids"], enc["attention_mask"]
        lengths = mask.sum(1).tolist()
        if max(lengths) > self.max_tokens:
            raise ModelInputError(f"phrase is too long for the text model ({max(lengths)} tokens, max {self.max_tokens})")
        starts = [
            [i for i, (tok, (begin, _)) in enumerate(zip(row, offsets)) if begin == 0 and tok not in self.special_ids]
            for row, offsets in zip(ids.tolist(), enc["offset_mapping"].tolist())
        ]
        mask = mask.to(self.device)
        hidden = self.model(input_ids=ids.to(self.device), attention_mask=mask).last_hidden_state
        return SubwordBatch(hidden, mask, starts, lengths)
