import math

import torch
import torch.nn.functional as F

from pushkin_lm.model.decoder import Decoder
from pushkin_lm.model.scorer import char_losses, fit_temperature, score_ids, score_text
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import generate, start_context


def test_score_equals_the_mean_cross_entropy_of_one_full_pass(tiny_model, verse):
    model, vocab = tiny_model
    text = verse[:300]
    ids = torch.tensor([vocab.encode(text)])
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    expected = F.cross_entropy(logits[0], ids[0, 1:]).item()
    # Small chunks force many carried-state hand-overs; one stream keeps it exact.
    assert math.isclose(score_ids(model, ids[0], chunk_size=7), expected, rel_tol=1e-5)


def test_parallel_streams_lose_only_a_little_context(tiny_model, verse):
    model, vocab = tiny_model
    ids = torch.tensor(vocab.encode(verse))
    one = score_ids(model, ids)
    many = score_ids(model, ids, min_stream=100)
    assert math.isclose(one, many, rel_tol=0.02)


def test_streams_of_compact_ids_score_as_each_stream_read_alone(tiny_model, verse):
    """A text's ids stay one byte a character (evaluate reads 256 MiB); each chunk is cut from them,
    and stream s is exactly its own slice read from the start, padding included."""
    model, vocab = tiny_model
    ids = vocab.tensor(verse[:1003])
    assert ids.dtype == torch.uint8
    targets = len(ids) - 1
    length = math.ceil(targets / 3)
    alone = sum(
        score_ids(model, ids[s * length : min((s + 1) * length, targets) + 1])
        * min(length, targets - s * length)
        for s in range(3)
    )
    together = score_ids(model, ids, min_stream=300, chunk_size=64)  # 3 streams, the last one padded
    assert math.isclose(together, alone / targets, rel_tol=1e-5)
    assert math.isclose(together, score_ids(model, ids.long(), min_stream=300, chunk_size=64), rel_tol=1e-6)


def test_score_text_counts_characters_and_unknowns(tiny_model):
    model, vocab = tiny_model
    score = score_text(model, vocab, "луна QQ луна")
    assert score.chars == 11 and score.unknown_chars == 2
    assert math.isfinite(score.nats_per_char)
    assert math.isclose(score.bits_per_char, score.nats_per_char / math.log(2))
    assert set(score.to_json()) == {"nats_per_char", "bits_per_char", "chars", "unknown_chars"}


def test_scoring_leaves_the_model_in_the_mode_it_found(tiny_model, verse):
    model, vocab = tiny_model
    model.train()
    score_ids(model, torch.tensor(vocab.encode(verse[:100])))
    assert model.training


def test_fitted_temperature_recovers_the_one_the_text_was_drawn_at(tiny_model):
    model, vocab = tiny_model
    with torch.no_grad():
        model.head.weight.mul_(30.0)  # peaky predictions, so that the temperature is well determined
        model.head.bias[0] = -1e4  # the sampler never draws the unknown slot; make it impossible
    context = start_context(vocab)
    drawn = generate(
        Decoder(model, int8=False), vocab, "", SampleConfig(max_tokens=4000, temperature=1.7, seed=0)
    )
    ids = torch.tensor(vocab.encode(context + "".join(drawn)))
    assert abs(fit_temperature(model, ids, min_stream=len(ids)) - 1.7) < 0.1


def test_calibration_divides_the_logits_only_where_text_is_scored(tiny_model, verse):
    model, vocab = tiny_model
    ids = torch.tensor(vocab.encode(verse[:50]))
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
    expected = F.cross_entropy(logits[0] / 2.5, ids[1:]).item()
    assert math.isclose(score_ids(model, ids, temperature=2.5), expected, rel_tol=1e-5)
    assert math.isclose(char_losses(model, ids, 2.5).mean().item(), expected, rel_tol=1e-5)
