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
        enc = self.tokenizer(
            [words], is_split_into_words=True, return_offsets_mapping=True, return_tensors="pt"
        )
        ids = enc["input_ids"]
        if ids.shape[1] > self.max_tokens:
            raise ModelInputError(f"phrase is too long for the text model ({ids.shape[1]} tokens, max {self.max_tokens})")
        starts = [
            i
            for i, (tok, (begin, _)) in enumerate(zip(ids[0].tolist(), enc["offset_mapping"][0].tolist()))
            if begin == 0 and tok not in self.special_ids
        ]
        mask = enc["attention_mask"].to(self.device)
        hidden = self.model(input_ids=ids.to(self.device), attention_mask=mask).last_hidden_state
        return Subwords(hidden, mask, starts)
