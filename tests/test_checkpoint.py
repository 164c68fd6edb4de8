import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pushkin_lm import checkpoint as ckpt_mod
from pushkin_lm.checkpoint import FORMAT_VERSION, load_checkpoint, read_config, save_checkpoint
from pushkin_lm.data import read_text, split_train_val
from pushkin_lm.errors import PushkinLMError
from pushkin_lm.evaluate import score_ids


def test_round_trip_keeps_weights_config_vocab_and_meta(tiny_model, tmp_path):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {"step": 7, "val_nats_per_char": 1.5})
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.vocab == vocab and loaded.model.cfg == model.cfg
    assert loaded.meta["step"] == 7
    x = torch.randint(len(vocab), (1, 20))
    with torch.no_grad():
        assert torch.equal(loaded.model(x)[0], model(x)[0])
    assert sorted(os.listdir(tmp_path / "ck")) == ["config.json", "model.safetensors"]


def test_the_calibration_temperature_travels_beside_the_weights(tiny_model, tmp_path):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {}, temperature=3.0)
    assert load_checkpoint(tmp_path / "ck").temperature == 3.0
    weights_file = tmp_path / "ck" / "model.safetensors"
    weights = load_file(weights_file)
    del weights["calibration_temperature"]  # as checkpoints written before calibration are
    save_file(weights, weights_file)
    assert load_checkpoint(tmp_path / "ck").temperature == 1.0


def test_a_version_1_config_is_upgraded_in_one_place(tiny_model, tmp_path):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {"train_config": {"out_dir": "runs/x", "batch_size": 4}})
    config = json.loads((tmp_path / "ck" / "config.json").read_text(encoding="utf-8"))
    config["format_version"] = 1
    del config["model"]["shift_keys"]
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    upgraded = read_config(tmp_path / "ck")
    assert upgraded["format_version"] == FORMAT_VERSION == 2
    assert upgraded["model"]["shift_keys"] is False  # written before keys were shifted
    train = upgraded["meta"]["train_config"]
    assert train == {"out": "runs/x", "batch_size": 4, "ema_decay": 0.0, "calib_fraction": 0.0}


def test_a_training_out_folder_resolves_to_its_best_checkpoint(trained_dir):
    assert load_checkpoint(trained_dir).path == trained_dir / "best"


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tiny_model, tmp_path, monkeypatch):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {"step": 1})
    calls = []

    def crash_on_second_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # after moving the old folder aside, before the new one lands
            raise OSError(28, "No space left on device")
        os.rename(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", crash_on_second_rename)
    with torch.no_grad():
        model.head.bias.add_(1.0)
    with pytest.raises(PushkinLMError, match="No space left on device.*intact"):
        save_checkpoint(tmp_path / "ck", model, vocab, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "ck").meta["step"] == 1  # read from the folder moved aside
    save_checkpoint(tmp_path / "ck", model, vocab, {"step": 3})  # and the next save recovers
    assert load_checkpoint(tmp_path / "ck").meta["step"] == 3
    assert not list(tmp_path.glob(".ck*"))


def test_checkpoint_from_a_newer_format_is_refused(tiny_model, tmp_path):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {})
    config = json.loads((tmp_path / "ck/config.json").read_text())
    config["format_version"] = 99
    (tmp_path / "ck/config.json").write_text(json.dumps(config))
    with pytest.raises(PushkinLMError, match="newer pushkin-lm"):
        load_checkpoint(tmp_path / "ck")


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:500]),
            "not a valid safetensors",
        ),
        (lambda d: (d / "model.safetensors").unlink(), "no model.safetensors"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "config.json").unlink(), "not a pushkin-lm checkpoint"),
        (lambda d: (d / "config.json").write_text('{"format": "other"}'), "not a pushkin-lm checkpoint"),
    ],
)
def test_damaged_checkpoints_give_clear_errors(tiny_model, tmp_path, damage, message):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {})
    damage(tmp_path / "ck")
    with pytest.raises(PushkinLMError, match=message):
        load_checkpoint(tmp_path / "ck")


def _edit_config(path, edit):
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["model"].update(hidden_size=64), "do not match"),
        (lambda c: c["model"].update(vocab_size=5), "vocabulary has"),
        (lambda c: c["model"].update(hidden_size="big"), "must be int"),
        (lambda c: c.update(vocab=[1, 2]), "vocabulary must be"),
    ],
)
def test_configs_that_disagree_with_the_weights_are_refused(tiny_model, tmp_path, edit, message):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {})
    _edit_config(tmp_path / "ck", edit)
    with pytest.raises(PushkinLMError, match=message):
        load_checkpoint(tmp_path / "ck")


def test_missing_checkpoint_names_the_flag(tmp_path):
    with pytest.raises(PushkinLMError, match="--checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def test_shipped_checkpoint_loads():
    shipped = load_checkpoint()
    assert shipped.meta["val_nats_per_char"] < 1.83  # clearly better than the original project
    assert len(shipped.vocab) == shipped.model.cfg.vocab_size


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pushkin_new" / "train.txt"


@pytest.mark.skipif(not CORPUS.is_file(), reason="the corpus is not beside this checkout")
def test_shipped_checkpoint_scores_what_it_claims_on_the_validation_split():
    shipped = load_checkpoint()
    ids = torch.tensor(shipped.vocab.encode(read_text(CORPUS)))
    _, val = split_train_val(ids, 0.1)
    assert score_ids(shipped.model, val, shipped.temperature) == pytest.approx(
        shipped.meta["val_nats_per_char"], abs=2e-3
    )
    assert shipped.meta["val_nats_per_char"] < 1.50  # docs/results.md: 1.4700


def test_half_precision_checkpoint_loads_as_float32_with_close_outputs(tiny_model, tmp_path):
    model, vocab = tiny_model
    save_checkpoint(tmp_path / "ck", model, vocab, {}, dtype=torch.float16)
    loaded = load_checkpoint(tmp_path / "ck")
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    x = torch.randint(len(vocab), (1, 20))
    with torch.no_grad():
        assert torch.allclose(loaded.model(x)[0], model(x)[0], atol=1e-2)
