"""The tiny preset's text backbone: a word-level tokenizer built from the corpus vocabulary and a
small XLM-R encoder trained from scratch. No hub download.

Saved by ``TextBackbone.save`` as a Hugging Face model directory (``tokenizer.json``,
``tokenizer_config.json``, ``config.json``, ``model.safetensors``), so ``TextBackbone.load(dir)`` —
hence ``load_jegal(..., text_backbone=dir)`` and the ``Embedder`` — reads it like any other. Special tokens keep
XLM-R's ids (<s>=0, <pad>=1, </s>=2, <unk>=3), the pre-tokenizer splits on whitespace only
and every phrase is wrapped as ``<s> words </s>``; each word is one token, so its offsets start
at 0 and JEGAL's word-start rule finds exactly one start per word.

The encoder is order-free: its position table is zero and never trained (``order_free`` in its
config), so a word's vector depends on the words around it but not on where it sits in the
phrase. With positions, the word coupling learned a shortcut from a word's place in the phrase to
the time of the frame it matches: in a short query ("please stop now") the second word peaked
where a phrase's second word is spoken in training, wherever its gesture was
(``benchmarks/README.md``, "Training the tiny preset").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from gestsearch.models.subwords import SubwordTokenizer, XLMRobertaConfig
from gestsearch.models.text import XLMRobertaModel

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 128, 1, 4, 256
MAX_POSITIONS = 130  # 128 tokens (XLM-R positions start after the padding id)
ORDER_FREE = "order_free"  # config flag: the position table is zero and stays so in training


def build_word_tokenizer(words: Iterable[str], min_count: int = 1) -> SubwordTokenizer:
    """A fast tokenizer whose vocabulary is the special tokens + the words seen ``min_count`` times
    (most frequent first, ties alphabetical). Unknown words map to <unk>."""
    from tokenizers import Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    counts = Counter(words)
    ranked = sorted((w for w, n in counts.items() if n >= min_count and w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w))
    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *ranked))}
    core = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return SubwordTokenizer(core, model_max_length=MAX_POSITIONS - 2)


def new_text_model(vocab_size: int, hidden: int = HIDDEN) -> XLMRobertaModel:
    """A freshly initialised (global torch RNG) small XLM-R encoder, order-free (zero position table)."""
    import torch

    config = XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **{ORDER_FREE: True},
    )
    model = XLMRobertaModel(config)
    model.init_weights()
    with torch.no_grad():
        model.embeddings.position_embeddings.weight.zero_()
    return model


def is_order_free(model) -> bool:
    """Whether a text model's position table is the order-free one of :func:`new_text_model`."""
    return bool(getattr(model.config, ORDER_FREE, False))
