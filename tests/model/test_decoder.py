from pathlib import Path

import pytest
import torch

from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.model.network import Network


def make(**kw) -> Network:
    torch.manual_seed(0)
    settings = {"embed_dim": 8, "hidden_size": 16, "num_heads": 2, "attn_window": 6, "dropout": 0.0, **kw}
    return Network(ModelConfig(vocab_size=20, **settings)).eval()


def decode(model: Network, x: torch.Tensor, prompt: int, int8: bool) -> torch.Tensor:
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


@pytest.mark.parametrize("shift_keys", [False, True])
def test_positions_that_leave_the_window_stop_counting_and_the_rest_keep_counting(shift_keys):
    # A text read from its first character and then stepped well past the window of 6: each step's
    # logits are the full network's, which attends to exactly the last 6 positions. Forgetting the
    # wrong position, or keeping one too many, changes them.
    model = make(attn_window=6, shift_keys=shift_keys)
    x = torch.randint(1, 20, (1, 25))
    with torch.no_grad():
        full, _ = model(x)
    decoder = Decoder(model, int8=False)
    first = decoder.read(x[0, :1].tolist())
    steps = torch.stack([first, *(decoder.step(int(i)) for i in x[0, 1:])])
    assert torch.allclose(steps, full[0], atol=1e-5)


@pytest.mark.parametrize(
    "flags, engine", [("avx512_vnni amx_tile amx_int8", "onednn"), ("avx512_vnni", "fbgemm")]
)
def test_many_lanes_go_through_onednn_only_on_a_cpu_with_amx(monkeypatch, tmp_path, flags, engine):
    from pushkin_lm.model import decoder as decoder_module

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr(
        decoder_module, "Path", lambda path: cpuinfo if path == "/proc/cpuinfo" else Path(path)
    )
    assert decoder_module.lanes_engine_for_this_cpu.__wrapped__() == engine


@pytest.mark.skipif("onednn" not in torch.backends.quantized.supported_engines, reason="no oneDNN here")
def test_either_engine_gives_the_lanes_the_same_logits():
    model = make(hidden_size=64, num_heads=4)
    decoders = [Decoder(model, lanes_engine=engine) for engine in ("fbgemm", "onednn")]
    ids = torch.randint(1, 20, (16,))  # more lanes than MANY_ROWS: the engine's own packing
    logits = []
    for decoder in decoders:
        decoder.read([1, 2, 3])
        decoder.fork(16)
        logits.append(decoder.step_many(ids))
    torch.testing.assert_close(logits[0], logits[1], atol=1e-5, rtol=1e-5)
