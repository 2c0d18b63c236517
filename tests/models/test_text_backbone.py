"""The text backbone runs without transformers; here it must give transformers' tokens and hidden
states, bit for bit, on the bundled tiny model and on the reference kit's tiny XLM-R (whose
outputs are also checked against the goldens in test_models.py)."""

from __future__ import annotations

import pytest
import torch

from gestsearch.assets import TINY_MODEL_DIR
from gestsearch.errors import CheckpointError
from gestsearch.models.text import TextBackbone, hf_state_dict

pytestmark = pytest.mark.slow  # loads transformers (~1.5 s) and the models

PHRASES = [
    ["we", "counted", "42", "red", "balloons"],
    ["stop"],
    ["the", "money", "Ünïcödé", "naïve", "x-ray", "..."],
    ["wave", "hello", "the", "stop", "a", "b", "c"],
]


@pytest.fixture(params=["bundled", "reference"])
def model_dir(request, seeded_checkpoints):
    return TINY_MODEL_DIR / "text" if request.param == "bundled" else seeded_checkpoints["text"]


def test_same_tokens_and_hidden_states_as_transformers(model_dir):
    transformers = pytest.importorskip("transformers")
    ours = TextBackbone.load(model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()

    enc = tokenizer(PHRASES, is_split_into_words=True, return_offsets_mapping=True, padding=True, return_tensors="pt")
    tokens = ours.tokenizer.batch(PHRASES)
    ids, mask = torch.from_numpy(tokens.ids), torch.from_numpy(tokens.mask)
    assert torch.equal(ids, enc["input_ids"]) and torch.equal(mask, enc["attention_mask"])
    special = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
    for row, starts in enumerate(tokens.word_starts):  # word starts: offset 0 in transformers' offsets
        hf = zip(enc["input_ids"][row].tolist(), enc["offset_mapping"][row].tolist())
        assert starts == [i for i, (tok, (begin, _)) in enumerate(hf) if begin == 0 and tok not in special]
    for word in ("stop", "balloons", "Ünïcödé", "xyzzy"):
        assert ours.tokenizer(word, add_special_tokens=False)["input_ids"] == tokenizer(word, add_special_tokens=False)["input_ids"]
    assert ours.tokenizer.unk_token_id == tokenizer.unk_token_id and len(ours.tokenizer) == len(tokenizer)

    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours.model(ids, mask)
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], rtol=0, atol=1e-6)
    assert ours.max_tokens == model.config.max_position_embeddings - 2


def test_saved_backbone_reads_back_in_both(model_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = TextBackbone.load(model_dir)
    ours.save(tmp_path)
    again = TextBackbone.load(tmp_path)
    hf = transformers.AutoModel.from_pretrained(tmp_path).eval()
    tokens = ours.tokenizer.batch(PHRASES)
    ids, mask = torch.from_numpy(tokens.ids), torch.from_numpy(tokens.mask)
    with torch.no_grad():
        a, b = ours.model(ids, mask), again.model(ids, mask)
        c = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(a, b)
    torch.testing.assert_close(c[mask.bool()], a[mask.bool()], rtol=0, atol=1e-6)
    assert transformers.AutoTokenizer.from_pretrained(tmp_path)(PHRASES[0], is_split_into_words=True)["input_ids"] == \
        ours.tokenizer(PHRASES[0], is_split_into_words=True)["input_ids"]


def test_hub_checkpoint_keys_map_to_the_encoder():
    """The hub's xlm-roberta-base is a masked-LM checkpoint: ``roberta.`` prefix, LM head, no pooler."""
    state = {"roberta.embeddings.word_embeddings.weight": 1, "roberta.embeddings.position_ids": 2,
             "roberta.encoder.layer.0.output.LayerNorm.gamma": 3, "lm_head.dense.weight": 4, "pooler.dense.bias": 5}
    assert hf_state_dict(state) == {"embeddings.word_embeddings.weight": 1, "encoder.layer.0.output.LayerNorm.weight": 3}


def test_a_missing_or_mismatched_text_model_is_one_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1, "type_vocab_size": 1}')
    for f in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / f).write_bytes((TINY_MODEL_DIR / "text" / f).read_bytes())
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        TextBackbone.load(tmp_path)
    (tmp_path / "model.safetensors").write_bytes((TINY_MODEL_DIR / "text" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="cannot load text model .*size mismatch"):
        TextBackbone.load(tmp_path)
