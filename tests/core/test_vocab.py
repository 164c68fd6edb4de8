import pytest

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import UNKNOWN, CharVocab


def test_build_sorts_distinct_chars_after_the_unknown_slot():
    vocab = CharVocab.build("бава\n")
    assert vocab.chars == (UNKNOWN, "\n", "а", "б", "в")
    assert len(vocab) == 5


def test_encode_decode_round_trip(verse):
    vocab = CharVocab.build(verse)
    assert vocab.decode(vocab.encode(verse)) == verse


def test_unknown_chars_map_to_id_zero_and_are_listed_once():
    vocab = CharVocab.build("абв")
    assert vocab.encode("аxбx") == [1, 0, 2, 0]
    assert vocab.unknown_chars("аxбxy") == ["x", "y"]
    assert "x" not in vocab and "а" in vocab


def test_json_round_trip_keeps_order_and_ids():
    vocab = CharVocab.build("Мороз и солнце; день чудесный!\u0301")
    again = CharVocab.from_json(vocab.to_json())
    assert again == vocab
    assert again.encode("день") == vocab.encode("день")


@pytest.mark.parametrize("bad", [None, [], {"chars": 5}, {"chars": "abc"}, {"chars": UNKNOWN + "aa"}])
def test_from_json_rejects_malformed_vocabularies(bad):
    with pytest.raises(PushkinLMError):
        CharVocab.from_json(bad)
