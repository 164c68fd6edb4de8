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


def test_int8_steps_stay_close_to_float_and_keep_the_ranking():
    model, x = make(hidden_size=64, num_heads=4), torch.randint(1, 20, (1, 60))
    exact, quantized = decode(model, x, 3, int8=False), decode(model, x, 3, int8=True)
    spread = exact.std()
    assert (quantized - exact).abs().max() < 0.05 * spread
    assert (quantized.argmax(-1) == exact.argmax(-1)).float().mean() > 0.9
    assert not torch.equal(quantized, exact)  # the int8 path really is another computation


def test_the_ring_buffer_overwrites_its_oldest_position():
    decoder = Decoder(make(attn_window=6, shift_keys=False), int8=False)
    decoder.read([1])  # one position cached in slot 0
    for i in range(5):  # fill slots 1..5: the window of 6 is full
        decoder.step(2 + i)
    oldest = decoder.keys[:, :, 0].clone()
    newest = decoder.keys[:, :, 5].clone()
    decoder.step(9)  # the seventh position takes the slot of the first
    assert not torch.equal(decoder.keys[:, :, 0], oldest)
    assert torch.equal(decoder.keys[:, :, 5], newest)  # the rest stay where they were
    assert decoder.seen == 7 and decoder.keys.shape[2] == 6
