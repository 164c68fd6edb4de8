import json
import math
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, tiny_run_config
from safetensors.torch import load_file, save_file

from pushkin_lm.core.device import resolve_device
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.scorer import score_ids
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.store.run import load_run
from pushkin_lm.train.learner import ema_update
from pushkin_lm.train.recipe import TrainConfig, learning_rate_at
from pushkin_lm.train.trainer import Trainer, train


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10)
    assert learning_rate_at(cfg, 0, 0.0) == pytest.approx(1e-4)
    assert learning_rate_at(cfg, 9, 0.0) == pytest.approx(1e-3)
    assert learning_rate_at(cfg, 50, 0.5) == pytest.approx(5.5e-4)
    assert learning_rate_at(cfg, 100, 1.0) == pytest.approx(1e-4)


def test_training_lowers_validation_loss_and_keeps_the_best(trained_dir):
    log = [json.loads(line) for line in (trained_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [30, 60]
    assert log[-1]["val_nats_per_char"] < 0.8 * math.log(30)  # well below a uniform guess
    best = load_checkpoint(trained_dir)
    assert best.meta["val_nats_per_char"] == min(r["val_nats_per_char"] for r in log)
    assert best.meta["step"] in (30, 60) and best.meta["data_source"].endswith("verse.txt")


def test_an_existing_checkpoint_is_not_overwritten_unless_asked(trained_dir):
    before = (trained_dir / "best" / "model.safetensors").read_bytes()
    cfg = TrainConfig(data=str(trained_dir.parent / "verse.txt"), out=str(trained_dir), max_iters=1)
    with pytest.raises(PushkinLMError, match="--overwrite"):
        train(cfg, log=lambda *_: None)
    assert (trained_dir / "best" / "model.safetensors").read_bytes() == before


def test_text_shorter_than_a_window_is_refused(tmp_path):
    (tmp_path / "short.txt").write_text("коротко", encoding="utf-8")
    cfg = TrainConfig(data=str(tmp_path / "short.txt"), out=str(tmp_path / "run"), block_size=64)
    with pytest.raises(PushkinLMError, match="too short"):
        train(cfg, log=lambda *_: None)


def test_nan_loss_stops_with_a_clear_message(tmp_path, verse_file):
    cfg = TrainConfig(
        data=str(verse_file),
        out=str(tmp_path / "run"),
        max_iters=50,
        block_size=16,
        batch_size=2,
        learning_rate=1e30,
        min_lr=0.0,
        warmup_iters=0,
        grad_clip=1e30,
        eval_interval=1,
        progress=False,
    )
    with pytest.raises(PushkinLMError, match="loss became"):
        model = ModelConfig(hidden_size=16, embed_dim=8, num_heads=2, dropout=0.0)
        train(cfg, model, log=lambda *_: None)


@pytest.mark.parametrize(
    "bad",
    [
        {"batch_size": 0},
        {"max_minutes": 0},
        {"learning_rate": -1.0},
        {"grad_clip": 0.0},
        {"threads": 0},
        {"device": "tpu"},
        {"ema_decay": 1.0},
    ],
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(PushkinLMError):
        TrainConfig(**bad)


def test_auto_device_is_the_gpu_where_torch_sees_one(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(PushkinLMError, match="--device cpu"):
        resolve_device("cuda")


def test_weight_average_horizon_grows_to_the_decay():
    update = ema_update(0.5)
    averaged, current = [torch.tensor([0.0])], [torch.tensor([11.0])]
    update(averaged, current, torch.tensor(1))  # early: keeps only 2/11 of the average
    assert averaged[0].item() == pytest.approx(9.0)
    update(averaged, [torch.tensor([1.0])], torch.tensor(100))  # later: keeps `decay` of it
    assert averaged[0].item() == pytest.approx(5.0)


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_checkpoints_hold_the_weights_that_were_scored(tmp_path, verse_file, ema_decay):
    cfg = tiny_run_config(verse_file, tmp_path / "run", max_iters=20, eval_interval=20, ema_decay=ema_decay)
    trainer = Trainer(cfg, ModelConfig(**TINY_MODEL), log=lambda *_: None)
    trainer.run()
    saved = load_checkpoint(tmp_path / "run" / "last")
    weights, trained = saved.model.state_dict(), trainer.learner.model.state_dict()
    averaged = any(not torch.equal(w, trained[k]) for k, w in weights.items())
    assert averaged == (ema_decay > 0)  # the average differs from the last trained weights
    # The saved copy carries the fitted temperature, and its score is the calibrated one.
    assert saved.temperature == pytest.approx(saved.meta["temperature"]) and saved.temperature != 1.0
    val = score_ids(saved.model, trainer.corpus.val, saved.temperature)
    assert saved.meta["val_nats_per_char"] == pytest.approx(val, abs=1e-6)


def copy_as_old_run(run: Path, to: Path, edit_config) -> Path:
    """A copy of `run`'s last checkpoint with its config.json edited as format version 1 wrote it."""
    (to / "last").mkdir(parents=True)
    for f in (run / "last").iterdir():
        (to / "last" / f.name).write_bytes(f.read_bytes())
    config = json.loads((run / "last" / "config.json").read_text(encoding="utf-8"))
    config["format_version"] = 1
    config["meta"]["train_config"]["out_dir"] = config["meta"]["train_config"].pop("out")
    edit_config(config)
    (to / "last" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return to


@pytest.mark.parametrize("setting", ["ema_decay", "calib_fraction"])
def test_runs_saved_before_weight_averaging_or_calibration_resume_without_it(trained_dir, tmp_path, setting):
    assert load_run(trained_dir).train_config[setting] == getattr(TrainConfig(), setting) > 0
    old = copy_as_old_run(trained_dir, tmp_path / "old", lambda c: c["meta"]["train_config"].pop(setting))
    assert load_run(old).train_config[setting] == 0.0


def test_the_calibration_slice_is_held_out_between_training_and_validation(tmp_path, verse_file):
    cfg = tiny_run_config(verse_file, tmp_path / "run", max_iters=1, calib_fraction=0.1)
    trainer = Trainer(cfg, ModelConfig(**TINY_MODEL), log=lambda *_: None)
    corpus = trainer.corpus
    ids = torch.tensor(corpus.vocab.encode(read_text(verse_file)))
    before_val, val = split_train_val(ids, cfg.val_fraction)
    assert torch.equal(torch.cat([corpus.train, corpus.calib]), before_val)
    assert torch.equal(corpus.val, val)
    assert len(corpus.calib) == len(before_val) - int(len(before_val) * 0.9)
    # The training windows are cut from the training part alone.
    assert trainer.learner.windows is not None and trainer.learner.windows.parts[0].ids is corpus.train


def test_runs_saved_before_shifted_keys_resume_unshifted(trained_dir, tmp_path):
    assert load_run(trained_dir).checkpoint.model.cfg.shift_keys is True
    old = copy_as_old_run(trained_dir, tmp_path / "old", lambda c: c["model"].pop("shift_keys"))
    state_file = old / "last" / "trainer.safetensors"
    tensors = {k: v for k, v in load_file(state_file).items() if k != "carried.pending_key"}
    save_file(tensors, state_file)  # older runs carried no pending key either

    max_iters = load_run(old).train_config["max_iters"] + 10
    trainer = Trainer.resume(old, {"max_iters": max_iters}, log=lambda *_: None)
    assert trainer.learner.model.cfg.shift_keys is False
    assert trainer.learner.carried.pending_key.size(2) == 0
    trainer.run()
    resumed = load_checkpoint(old / "last")
    assert resumed.meta["step"] == max_iters and resumed.model.cfg.shift_keys is False
