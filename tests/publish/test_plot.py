"""Pictures: training curves from log.jsonl and attention heat-maps, their errors, and the
recomputed attention weights checked against the attention block's own output."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_MODEL, make_verse

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.network import Network
from pushkin_lm.publish.plot import (
    _display_char,
    attention_weights,
    best_evaluation,
    plot_attention,
    plot_training_curves,
    read_log,
    recompute_attention,
)
from pushkin_lm.store.checkpoint import SHIPPED, load_checkpoint

LINE = "ночь море\nс"  # 11 characters, within the tiny model's window of 12


def write_log(path: Path, rows: list[dict | str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    (path / "log.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def fake_rows(with_val: bool = True) -> list[dict]:
    rows = []
    for i in range(1, 9):
        row = {"step": 500 * i, "elapsed_s": 240.0 * i, "train_nats_per_char": 3.0 / math.sqrt(i)}
        if with_val:
            row["val_nats_per_char"] = 1.6 + (i - 6) ** 2 / 20
        rows.append({**row, "temperature": 1.1})
    return rows


def assert_picture(png: Path, min_size: tuple[int, int] = (300, 200), max_size: int = 5000) -> None:
    """`png` is a PNG of a sensible size with something drawn on it."""
    import matplotlib.image

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(png)
    height, width = pixels.shape[:2]
    assert min_size[0] <= width <= max_size and min_size[1] <= height <= max_size
    rgb = (pixels[..., :3].reshape(-1, 3) * 255).round().astype(np.int64)
    assert rgb.std() > 10  # not a blank canvas
    assert len(np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])) > 50  # distinct colours


# ---------------------------------------------------------------------------- training curves


def test_curves_of_a_real_training_run(trained_dir, tmp_path):
    out = plot_training_curves(trained_dir, tmp_path / "pictures" / "curves.png")
    assert out == tmp_path / "pictures" / "curves.png"
    assert_picture(out, min_size=(1000, 400))


def test_curves_mark_the_best_validation_checkpoint(tmp_path):
    rows = read_log(write_log(tmp_path / "run", fake_rows())).rows
    assert [row["step"] for row in rows] == [500 * i for i in range(1, 9)]
    assert best_evaluation(rows) == (rows[5], "val_nats_per_char")
    assert_picture(plot_training_curves(tmp_path / "run", tmp_path / "curves.png"), min_size=(1000, 400))


def test_curves_without_a_validation_split_judge_by_training_loss(tmp_path):
    run = write_log(tmp_path / "run", fake_rows(with_val=False))
    best, key = best_evaluation(read_log(run).rows)
    assert (best["step"], key) == (4000, "train_nats_per_char")
    assert_picture(plot_training_curves(run, tmp_path / "curves.png"))


def test_the_first_of_equal_scores_is_best_and_a_relogged_step_keeps_its_last_row(tmp_path):
    rows = fake_rows()
    for row in rows:
        row["val_nats_per_char"] = 2.0
    rows.append({**rows[2], "train_nats_per_char": 9.0})  # step 1500 again, as after a resume
    log = read_log(write_log(tmp_path / "run", [*rows, ""])).rows  # a blank line is skipped
    assert len(log) == 8 and log[2]["train_nats_per_char"] == 9.0
    assert best_evaluation(log)[0]["step"] == 500


@pytest.mark.parametrize(
    "lines, expected",
    [
        (None, r"does not exist; give the --out folder"),
        ([], r"no evaluations yet; wait"),
        (["", "  "], r"no evaluations yet; wait"),
        (
            ['{"step": 10, "elapsed_s": 1.0, "train_nats_'],
            r"1 damaged line skipped, first at line 1: not JSON",
        ),
        (["[1, 2]", "{}"], r"2 damaged lines skipped, first at line 1: not a JSON object\)"),
        (["{}"], r"first at line 1: no 'step'\)"),
        ([{"step": 10, "elapsed_s": 1.0}], r"no 'train_nats_per_char'"),
        (
            [{"step": 10, "elapsed_s": "soon", "train_nats_per_char": 2.0}],
            r"elapsed_s is 'soon', not a finite",
        ),
        ([{"step": 10, "elapsed_s": 1.0, "train_nats_per_char": True}], r"not a finite number"),
        ([{"step": 1.5, "elapsed_s": 1.0, "train_nats_per_char": 2.0}], r"step is 1.5, not a whole number"),
    ],
)
def test_a_missing_empty_or_damaged_log_is_a_one_line_error(tmp_path, lines, expected):
    run = tmp_path / "run" if lines is None else write_log(tmp_path / "run", lines)
    with pytest.raises(PushkinLMError, match=expected) as err:
        plot_training_curves(run, tmp_path / "curves.png")
    assert "\n" not in str(err.value) and ";" in str(err.value)  # the problem; the fix
    assert not (tmp_path / "curves.png").exists()


def test_an_unwritable_output_is_an_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(PushkinLMError, match="cannot write"):
        plot_training_curves(write_log(tmp_path / "run", fake_rows()), tmp_path / "file" / "curves.png")


def test_missing_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PushkinLMError, match="pip install matplotlib"):
        plot_training_curves(write_log(tmp_path / "run", fake_rows()), tmp_path / "curves.png")


def test_attention_heat_map_is_drawn_without_warnings(tiny_model, tmp_path):
    model, vocab = tiny_model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would be a warning
        out = plot_attention(model, vocab, LINE, tmp_path / "a" / "attn.png")
    assert out == tmp_path / "a" / "attn.png"
    assert_picture(out)
    assert not model.training


def test_invisible_and_unusual_characters_get_visible_labels(tmp_path):
    vocab = CharVocab.build(make_verse() + "\u0301\u200e\u8a9e")  # stress mark, LRM, a CJK character
    torch.manual_seed(0)
    model = Network(ModelConfig(vocab_size=len(vocab), **TINY_MODEL))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_picture(plot_attention(model, vocab, "мо\u0301ре\u200e \u8a9e\n", tmp_path / "attn.png"))
    assert model.training  # the mode it came in is restored
    has_glyph = lambda c: c != "\u8a9e"  # noqa: E731
    shown = [_display_char(c, has_glyph) for c in " \n\u0301\u200e\u8a9eж"]
    assert shown == ["\u2423", "\u21b5", "\u25cc\u0301", "U+200E", "U+8A9E", "ж"]


def test_attention_weights_are_causal_distributions(tiny_model):
    model, vocab = tiny_model
    weights = attention_weights(model, vocab, LINE)
    assert weights.shape == (TINY_MODEL["num_heads"], len(LINE), len(LINE))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, len(LINE)))
    assert (weights.triu(1) == 0).all()


def block_output_and_recomputed(model: Network, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention block's own output over `idx`, and the one recomputed from its weights."""
    inputs, outputs = [], []
    hooks = [
        model.ln_attn.register_forward_hook(lambda _m, _i, out: inputs.append(out)),
        model.attn.register_forward_hook(lambda _m, _i, out: outputs.append(out[0])),
    ]
    with torch.no_grad():
        model(idx)
        _, recomputed = recompute_attention(model.attn, inputs[0])
    for hook in hooks:
        hook.remove()
    return outputs[0], recomputed


@pytest.mark.parametrize("shift_keys", [True, False])
@pytest.mark.parametrize("length", [1, 7, 12, 30])  # 12 is the whole window; 30 takes the masked path
def test_recomputed_weights_give_the_blocks_own_output(shift_keys, length):
    torch.manual_seed(1)
    model = Network(ModelConfig(vocab_size=20, **{**TINY_MODEL, "shift_keys": shift_keys})).eval()
    torch.nn.init.normal_(model.attn.proj.weight)  # full-size outputs, so that 1e-5 is a real test
    own, recomputed = block_output_and_recomputed(model, torch.randint(20, (3, length)))
    assert own.abs().mean() > 0.1
    torch.testing.assert_close(recomputed, own, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="no shipped checkpoint")
def test_recomputed_weights_match_the_shipped_model():
    ckpt = load_checkpoint(SHIPPED)
    idx = torch.tensor([ckpt.vocab.encode("Мой дядя самых честных правил,\nКогда не в шутку занемог")])
    own, recomputed = block_output_and_recomputed(ckpt.model, idx)
    torch.testing.assert_close(recomputed, own, atol=1e-5, rtol=1e-4)


def test_attention_refuses_bad_texts_and_models(tiny_model, tmp_path):
    model, vocab = tiny_model
    out = tmp_path / "attn.png"
    with pytest.raises(PushkinLMError, match=r"does not know: 'Q', '!'; replace them"):
        plot_attention(model, vocab, "мороQз!", out)
    with pytest.raises(
        PushkinLMError, match=r"13 characters but the attention window is 12; give --text of at most 12"
    ):
        plot_attention(model, vocab, "луна " * 2 + "мор", out)
    wide = Network(ModelConfig(vocab_size=len(vocab), **{**TINY_MODEL, "attn_window": 5000}))
    with pytest.raises(
        PushkinLMError, match=r"model's 2 heads holds at most 425 .*; give --text of at most 425"
    ):
        plot_attention(wide, vocab, "луна " * 800, out)  # refused before the network reads it
    with pytest.raises(PushkinLMError, match="empty"):
        plot_attention(model, vocab, "", out)
    plain = Network(ModelConfig(vocab_size=len(vocab), **{**TINY_MODEL, "attention": False}))
    with pytest.raises(PushkinLMError, match="no attention block.*trained with attention"):
        plot_attention(plain, vocab, LINE, out)
    assert not out.exists()
