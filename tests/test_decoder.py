import pytest
import torch

from pushkin_lm.decoder import Decoder
from pushkin_lm.model import ModelConfig, PushkinLM


def make(**kw) -> PushkinLM:
    torch.manual_seed(0)
    settings = {"embed_dim": 8, "hidden_size": 16, "num_heads": 2, "attn_window": 6, "dropout": 0.0, **kw}
    return PushkinLM(ModelConfig(vocab_size=20, **settings)).eval()


def decode(model: PushkinLM, x: torch.Tensor, prompt: int, int8: bool) -> torch.Tensor:
    """Logits for x[prompt:], reading x[:prompt] in one pass and the rest one step at a time."""
    with torch.no_grad():
        _, state = model(x[:, :prompt])
    decoder = Decoder(model, int8=int8)
    decoder.start(state)
    return torch.stack([decoder.step(int(i)) for i in x[0, prompt:]])


@pytest.mark.parametrize("settings", [{}, {"attention": False}, {"ffn_mult": 0}, {"num_layers": 3}])
@pytest.mark.parametrize("prompt", [1, 4, 12])
def test_float_steps_equal_the_model_over_the_whole_text(settings, prompt):
    # 40 characters against a window of 6: the ring buffer wraps around several times.
    model, x = make(**settings), torch.randint(1, 20, (1, 40))
    with torch.no_grad():
        full, _ = model(x)
    assert torch.allclose(decode(model, x, prompt, int8=False), full[0, prompt:], atol=1e-5)


def test_steps_give_the_network_logits_before_calibration():
    model, x = make(), torch.randint(1, 20, (1, 12))
    model.calibration_temperature.fill_(1.6)
    with torch.no_grad():
        calibrated, _ = model(x)
    assert torch.allclose(decode(model, x, 3, int8=False), calibrated[0, 3:] * 1.6, atol=1e-5)


def test_int8_steps_stay_close_to_float_and_keep_the_ranking():
    model, x = make(hidden_size=64, num_heads=4), torch.randint(1, 20, (1, 60))
    exact, quantized = decode(model, x, 3, int8=False), decode(model, x, 3, int8=True)
    spread = exact.std()
    assert (quantized - exact).abs().max() < 0.05 * spread
    assert (quantized.argmax(-1) == exact.argmax(-1)).float().mean() > 0.9
    assert not torch.equal(quantized, exact)  # the int8 path really is another computation


def test_the_attention_cache_never_grows_past_the_window():
    decoder = Decoder(make(attn_window=6), int8=False)
    for i in range(50):
        decoder.step(i % 20)
    assert decoder.keys.shape[2] == 6 and decoder.values.shape[2] == 6
