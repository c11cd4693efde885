"""Save/load round trips (bit-identical scores), the embedding cache, encoders and text rendering."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from prefkit.errors import InputError, ValidationError  # noqa: E402
from prefkit.reward.cache import EmbeddingCache, embed  # noqa: E402
from prefkit.reward.encoders import (  # noqa: E402
    Encoder,
    EncoderSpec,
    HashingEncoder,
    parse_encoder,
    render_text,
)
from prefkit.reward.heads import HEAD_NAMES, make_head  # noqa: E402
from prefkit.reward.pairs import PairFeatures  # noqa: E402
from prefkit.reward.persist import RewardModel, load_model, save_model  # noqa: E402

from .conftest import planted_pairs  # noqa: E402

FAST = {"mlp": {"epochs": 20}, "armo": {"epochs": 10}, "pal": {"epochs": 20}, "maxmin": {"n_init": 1}}


@pytest.mark.parametrize("name", [h for h in HEAD_NAMES if h != "finetune"])  # finetune: test_finetune.py
def test_save_load_round_trip_is_bit_identical(name: str, tmp_path) -> None:
    pairs, _ = planted_pairs(n=120, d=5, seed=1, ctx_dim=3)
    pairs.cond = pairs.ctx  # the condition vectors of the conditioned / attributes heads
    pairs.annotator = np.arange(120) % 4
    pairs.annotator_names = ["a", "b", "c", "d"]
    pairs.len_c, pairs.len_r = np.arange(120.0) + 5, np.arange(120.0)[::-1] + 5
    head = make_head(name, **FAST.get(name, {})).fit(pairs)
    model = RewardModel(head, name, EncoderSpec(backend="hashing", model="64"), temperature=0.731)
    save_model(model, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.head_name == name and back.temperature == 0.731 and back.encoder == model.encoder
    assert type(back.head) is type(head)
    np.testing.assert_array_equal(back.head.margins(pairs), head.margins(pairs))
    arrays, other = head.get_state()
    arrays2, other2 = back.head.get_state()
    assert arrays.keys() == arrays2.keys() and other == other2
    for k, v in arrays.items():
        assert arrays2[k].dtype == v.dtype
        np.testing.assert_array_equal(arrays2[k], v)


def test_load_rejects_what_is_not_a_model(tmp_path) -> None:
    with pytest.raises(InputError, match="not a prefkit reward model directory"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{nope", encoding="utf-8")
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(InputError, match="not valid JSON"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}), encoding="utf-8")
    with pytest.raises(InputError, match="not a prefkit-reward-model config"):
        load_model(tmp_path)


class CountingEncoder:
    """Wraps an encoder and counts the texts it is asked to encode."""

    def __init__(self) -> None:
        self.inner = HashingEncoder(32)
        self.name = "counting-test"
        self.calls = 0

    def encode(self, texts, progress=None):
        self.calls += len(texts)
        return self.inner.encode(texts, progress)


def test_cache_second_run_encodes_nothing(tmp_path) -> None:
    enc = CountingEncoder()
    assert isinstance(enc, Encoder)
    cache = EmbeddingCache(enc.name, tmp_path)
    texts = ["a b", "c d", "a b", "e"]
    first, n1 = embed(enc, texts, cache=cache)
    assert n1 == 3 and enc.calls == 3 and len(cache) == 3
    second, n2 = embed(enc, texts + ["new"], cache=cache)
    assert n2 == 1 and enc.calls == 4
    np.testing.assert_array_equal(second[:4], first)
    np.testing.assert_array_equal(first[0], first[2])
    # a different model name never sees these embeddings
    assert len(EmbeddingCache("other-model", tmp_path)) == 0


def test_hashing_encoder_is_deterministic_and_normalised() -> None:
    e = HashingEncoder(64).encode(["the cat sat", "the cat sat", ""])
    np.testing.assert_array_equal(e[0], e[1])
    assert np.linalg.norm(e[0]) == pytest.approx(1.0, abs=1e-6) and not e[2].any()


def test_render_text_plain_and_conversational() -> None:
    assert render_text("Q?", "  answer ") == "answer"
    msgs = json.dumps([{"role": "assistant", "content": "hi there"}])
    assert render_text(None, msgs) == "hi there"
    prompt = json.dumps([{"role": "user", "content": "hello"}])
    assert render_text(prompt, msgs, "prompt+response") == "user: hello\nassistant: hi there"
    assert render_text("x" * 5000, "ok", "prompt+response").startswith("...")
    with pytest.raises(ValidationError, match="text mode"):
        render_text("p", "r", "both")


def test_parse_encoder() -> None:
    assert parse_encoder("hashing:128") == EncoderSpec(backend="hashing", model="128")
    assert parse_encoder("all-MiniLM-L6-v2").backend == "sentence-transformers"
    with pytest.raises(ValidationError, match="positive integer"):
        parse_encoder("hashing:x")


def test_pair_features_bad_inputs() -> None:
    x = np.ones((3, 2))
    with pytest.raises(ValidationError, match="identical chosen and rejected"):
        PairFeatures(x, x).validate()
    with pytest.raises(ValidationError, match="out of range"):
        PairFeatures(x, -x, strength=[1, 4, 1]).validate()
    with pytest.raises(ValidationError, match="empty"):
        PairFeatures(np.zeros((0, 2)), np.zeros((0, 2))).validate()
    with pytest.raises(ValidationError, match="same shape"):
        PairFeatures(x, np.ones((3, 3)))
    with pytest.raises(ValidationError, match="one per pair"):
        PairFeatures(x, -x, weight=[1, 2])
    with pytest.raises(ValidationError, match="NaN"):
        PairFeatures(x * np.nan, -x).validate()
