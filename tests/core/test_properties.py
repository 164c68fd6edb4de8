"""Property tests: the vocabulary over arbitrary Unicode, and scoring over arbitrary text."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import UNKNOWN, CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.network import Network
from pushkin_lm.model.scorer import score_text

texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200)


@given(texts)
def test_encode_decode_round_trips_any_text_it_was_built_from(text):
    vocab = CharVocab.build(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert CharVocab.from_json(vocab.to_json()) == vocab


@given(texts, texts)
def test_unknown_characters_become_the_unknown_slot_and_nothing_else(known, other):
    vocab = CharVocab.build(known)
    decoded = vocab.decode(vocab.encode(other))
    assert len(decoded) == len(other)
    for original, back in zip(other, decoded, strict=True):
        assert back == (original if original in vocab else UNKNOWN)
    assert set(vocab.unknown_chars(other)) == {c for c in other if c not in vocab}


MODEL = None


def tiny_model() -> tuple[Network, CharVocab]:
    global MODEL
    if MODEL is None:
        torch.manual_seed(0)
        vocab = CharVocab.build("абвгдеёжзийклмнопрстуфхцчшщъыьэюя \n.,")
        MODEL = (
            Network(
                ModelConfig(
                    vocab_size=len(vocab),
                    embed_dim=8,
                    hidden_size=16,
                    num_heads=2,
                    num_layers=1,
                    attn_window=8,
                )
            ).eval(),
            vocab,
        )
    return MODEL


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=2, max_size=300))
def test_any_text_scores_to_finite_numbers(text):
    model, vocab = tiny_model()
    if all(c not in vocab for c in text[1:]):  # nothing to measure: refused, not scored 0.0
        with pytest.raises(PushkinLMError, match="every character of the text is outside"):
            score_text(model, vocab, text)
        return
    score = score_text(model, vocab, text)
    assert math.isfinite(score.nats_per_char) and score.nats_per_char > 0
    assert score.chars == len(text) - 1
    assert score.unknown_chars == sum(c not in vocab for c in text[1:])
