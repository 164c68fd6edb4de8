import pytest
import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.memory import param_count
from pushkin_lm.model.network import Network, embedding_dropout, window_mask


def make(window=12, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=20,
        embed_dim=8,
        hidden_size=16,
        num_layers=2,
        num_heads=2,
        attn_window=window,
        dropout=0.0,
        **kw,
    )
    return Network(cfg).eval()


def test_logits_have_one_row_per_position():
    logits, state = make()(torch.randint(20, (3, 7)))
    assert logits.shape == (3, 7, 20)
    assert state.h.shape == (2, 3, 16) and state.keys.shape[2] == 7


@pytest.mark.parametrize("window", [4, 64])
def test_changing_a_later_character_never_changes_earlier_logits(window):
    model = make(window)
    x = torch.randint(20, (1, 30))
    y = x.clone()
    y[0, 17] = (x[0, 17] + 1) % 20
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    assert torch.allclose(a[0, :17], b[0, :17], atol=1e-6)
    assert not torch.allclose(a[0, 17], b[0, 17])


@pytest.mark.parametrize("window", [5, 100])
def test_incremental_steps_equal_full_recomputation(window):
    model = make(window)
    x = torch.randint(20, (2, 40))
    with torch.no_grad():
        full, _ = model(x)
        state, steps = None, []
        for t in range(40):
            logits, state = model(x[:, t : t + 1], state)
            steps.append(logits)
        chunks, state = [], None
        for t in range(0, 40, 9):
            logits, state = model(x[:, t : t + 9], state)
            chunks.append(logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert torch.allclose(torch.cat(chunks, 1), full, atol=1e-5)


@pytest.mark.parametrize("shift_keys", [False, True])
def test_attention_only_sees_the_window(shift_keys):
    model = make(window=5, shift_keys=shift_keys)
    x = torch.randint(20, (1, 30))
    y = x.clone()
    y[0, 10] = (x[0, 10] + 1) % 20
    # Cut the LSTM's memory (no recurrent weights, forget gates shut) so only attention could
    # carry information from one position to another.
    for lstm in model.lstm:
        lstm.weight_hh_l0.data.zero_()
        lstm.bias_ih_l0.data[16:32] = -1e4
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    # The window bounds the values a query reads; a shifted key reaches one position further.
    last_seen = 14 + shift_keys
    assert not torch.allclose(a[0, last_seen], b[0, last_seen])
    assert torch.allclose(a[0, last_seen + 1 :], b[0, last_seen + 1 :], atol=1e-6)


def test_shifted_keys_pair_each_value_with_the_previous_positions_key():
    model = make(window=64)
    attn, x, start = model.attn, torch.randn(1, 6, 16), model.initial_state()
    with torch.no_grad():
        out, *_ = attn(x, start.keys, start.values, start.pending_key)
        q, k, v = attn.qkv(x)[0].view(6, 3, 2, 8).unbind(1)  # (position, head, head_dim)
        expected = []
        for t in range(6):
            # Value j is found by key j - 1; the first value by a zero key.
            keys = torch.cat([torch.zeros(1, 2, 8), k[:t]])
            weights = torch.softmax(torch.einsum("hd,jhd->hj", q[t], keys) / 8**0.5, dim=1)
            expected.append(torch.einsum("hj,jhd->hd", weights, v[: t + 1]).reshape(16))
        expected = attn.proj(torch.stack(expected))
    assert torch.allclose(out[0], expected, atol=1e-5)


def test_cache_stays_bounded_by_the_window():
    model = make(window=6)
    state = None
    with torch.no_grad():
        for _ in range(20):
            _, state = model(torch.randint(20, (1, 1)), state)
    assert state.keys.shape[2] == 5 and state.values.shape[2] == 5


def test_window_mask_is_causal_and_banded():
    mask = window_mask(past=2, length=3, window=3)
    assert mask.tolist() == [
        [True, True, True, False, False],
        [False, True, True, True, False],
        [False, False, True, True, True],
    ]


def test_dropout_masks_are_shared_across_time_steps():
    from pushkin_lm.model.network import locked_dropout

    x = torch.ones(4, 50, 32)
    y = locked_dropout(x, 0.5, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))  # one mask per sequence
    assert set(y.unique().tolist()) == {0.0, 2.0}  # kept units are scaled by 1 / (1 - p)
    assert torch.equal(locked_dropout(x, 0.5, training=False), x)


def test_embedding_dropout_drops_whole_characters_for_the_batch():
    embed = torch.nn.Embedding(40, 8)
    torch.nn.init.ones_(embed.weight)
    idx = torch.arange(40).repeat(3, 5)  # every character, many times over
    y = embedding_dropout(embed, idx, 0.5, training=True)
    dropped = y[0, :40, 0] == 0
    assert 0 < dropped.sum() < 40
    assert torch.equal(y, torch.where(dropped[idx][..., None], 0.0, 2.0).expand_as(y))  # same everywhere
    assert torch.equal(embedding_dropout(embed, idx, 0.5, training=False), embed(idx))


def test_weight_drop_changes_training_outputs_but_not_evaluation():
    model = make(weight_drop=0.5)
    x = torch.randint(20, (2, 30))
    with torch.no_grad():
        plain, _ = model(x)
        model.train()
        dropped, _ = model(x)
        model.eval()
        again, _ = model(x)
    assert not torch.allclose(plain, dropped, atol=1e-3)
    assert torch.equal(plain, again)
    loss = model.train()(x)[0].logsumexp(-1).mean()
    loss.backward()
    assert all(lstm.weight_hh_l0.grad.abs().sum() > 0 for lstm in model.lstm)


def test_switching_attention_off_gives_a_plain_lstm():
    plain = make(attention=False)
    assert not hasattr(plain, "attn")
    assert plain.num_params() < make().num_params()


@pytest.mark.parametrize(
    "bad",
    [
        {"hidden_size": 0},
        {"num_heads": 3},
        {"dropout": 1.0},
        {"embed_dropout": 1.0},
        {"weight_drop": -0.1},
        {"hidden_size": "8"},
    ],
)
def test_config_rejects_bad_sizes(bad):
    settings = {"vocab_size": 10, "hidden_size": 16, "num_heads": 2, **bad}
    with pytest.raises(PushkinLMError):
        ModelConfig(**settings)


def test_config_json_round_trip():
    cfg = ModelConfig(vocab_size=10, hidden_size=16, num_heads=2)
    assert ModelConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    "settings",
    [{}, {"num_layers": 1}, {"num_layers": 3, "attention": False}, {"ffn_mult": 0}, {"embed_dim": 7}],
)
def test_the_memory_check_counts_the_parameters_the_network_has(settings):
    cfg = ModelConfig(vocab_size=50, hidden_size=64, num_heads=4, **settings)
    assert param_count(cfg) == Network(cfg).num_params()
