import pytest
import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.model.memory import PROMPT_CHUNK
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import generate, sample_next


def test_temperature_zero_takes_the_argmax():
    logits = torch.tensor([0.1, 2.0, 1.9, -1.0])
    assert all(sample_next(logits, SampleConfig(temperature=0)) == 1 for _ in range(20))


def test_top_k_restricts_the_support_to_the_k_most_likely():
    logits = torch.tensor([3.0, 2.9, 2.8, 0.0, -1.0])
    g = torch.Generator().manual_seed(0)
    drawn = {sample_next(logits, SampleConfig(temperature=5.0, top_k=2), g) for _ in range(300)}
    assert drawn == {0, 1}


def test_top_p_keeps_the_smallest_set_reaching_the_mass():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    g = torch.Generator().manual_seed(0)
    drawn = {sample_next(probs.log(), SampleConfig(temperature=1.0, top_p=0.75), g) for _ in range(400)}
    assert drawn == {0, 1}
    assert {sample_next(probs.log(), SampleConfig(temperature=1.0, top_p=0.01), g) for _ in range(50)} == {0}


def test_high_temperature_without_limits_reaches_every_id():
    logits = torch.tensor([3.0, 0.0, 0.0])
    g = torch.Generator().manual_seed(0)
    assert {sample_next(logits, SampleConfig(temperature=3.0), g) for _ in range(300)} == {0, 1, 2}


def test_draws_follow_the_softmax_distribution():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.15, 0.05])
    g = torch.Generator().manual_seed(0)
    counts = torch.bincount(
        torch.tensor([sample_next(probs.log(), SampleConfig(temperature=1.0), g) for _ in range(20_000)])
    )
    assert counts[1] == 0  # a zero-probability id is never drawn
    assert torch.allclose(counts / 20_000, probs, atol=0.012)


def text_of(model, vocab, prompt: str = "", decoder: Decoder | None = None, **settings) -> str:
    return "".join(generate(decoder or Decoder(model), vocab, prompt, SampleConfig(**settings)))


def test_generation_streams_exactly_max_new_chars(tiny_model):
    model, vocab = tiny_model
    chars = list(generate(Decoder(model), vocab, "луна", SampleConfig(max_tokens=37, seed=1)))
    assert len(chars) == 37 and all(c in vocab for c in chars)


def test_same_seed_same_text_and_other_seed_other_text(tiny_model):
    model, vocab = tiny_model
    text = lambda seed: text_of(model, vocab, max_tokens=80, temperature=1.0, seed=seed)  # noqa: E731
    assert text(3) == text(3)
    assert text(3) != text(4)


def test_a_reused_decoder_restarts_cleanly_for_each_text(tiny_model):
    model, vocab = tiny_model
    decoder = Decoder(model)
    settings = {"max_tokens": 60, "temperature": 1.0, "seed": 5}
    fresh = [text_of(model, vocab, p, **settings) for p in ("луна", "")]
    reused = [text_of(model, vocab, p, decoder, **settings) for p in ("луна", "")]
    assert reused == fresh


def test_greedy_generation_matches_argmax_of_full_recomputation(tiny_model):
    model, vocab = tiny_model
    prompt = "мороз"
    out = text_of(model, vocab, prompt, Decoder(model, int8=False), max_tokens=30, temperature=0)
    from pushkin_lm.sampling.sample import start_context

    ids = torch.tensor([vocab.encode(start_context(vocab) + prompt + out)])
    with torch.no_grad():
        logits, _ = model(ids)
    logits[..., 0] = float("-inf")
    predicted = logits[0, -31:-1].argmax(-1).tolist()
    assert vocab.decode(predicted) == out


def test_prompt_with_unknown_characters_is_a_clear_error(tiny_model):
    model, vocab = tiny_model
    with pytest.raises(PushkinLMError, match="does not know: 'QZ'"):
        text_of(model, vocab, "луна QZ", max_tokens=5)


@pytest.mark.parametrize(
    "kw", [{"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}, {"top_k": 0}, {"temperature": float("nan")}]
)
def test_bad_sampling_settings_are_refused(kw):
    with pytest.raises(PushkinLMError):
        SampleConfig(max_tokens=5, **kw)


def test_unknown_slot_is_never_emitted(tiny_model):
    model, vocab = tiny_model
    model.head.bias.data[0] = 100.0  # make the unknown slot overwhelmingly likely
    assert "\ufffd" not in text_of(model, vocab, max_tokens=50, temperature=1.0, seed=0)


def test_a_prompt_is_read_in_chunks_exactly_as_in_one_pass(tiny_model, verse):
    model, vocab = tiny_model
    prompt = (verse * 3)[: 2 * PROMPT_CHUNK + 37]  # three chunks, far beyond the window of 12
    decoder = Decoder(model, int8=False)
    with torch.no_grad():
        whole, _ = model(torch.tensor([vocab.encode(prompt + "а")]))
    torch.testing.assert_close(decoder.read(vocab.encode(prompt)), whole[0, -2], atol=1e-5, rtol=1e-5)
    # The state the chunks carried on continues the text exactly.
    torch.testing.assert_close(decoder.step(vocab.encode("а")[0]), whole[0, -1], atol=1e-5, rtol=1e-5)
