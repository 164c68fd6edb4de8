import builtins
import copy
import errno
import itertools
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.scorer import score_ids
from pushkin_lm.store.checkpoint import FORMAT_VERSION, load_checkpoint, read_config, save_checkpoint


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


class Died(BaseException):
    """The process stopping mid-save (a kill, a power cut): unlike an OSError, nothing in the save
    may catch it and tidy up after it."""


class Faults:
    """Counts a save's file-system operations, in whatever order it makes them, and fails the
    `at`-th: `dying`, it and every later one raise Died, as if the process had stopped there;
    otherwise it alone fails with ENOSPC, as a full disk does, and the save carries on as it will."""

    OPERATIONS = ("mkdir", "open", "fsync", "replace", "rename", "rmdir", "unlink", "remove")

    def __init__(self, at: int, dying: bool) -> None:
        self.at, self.dying, self.count, self.failed = at, dying, 0, False

    def fault(self) -> BaseException | None:
        self.count += 1
        if self.count == self.at or (self.dying and self.failed):
            self.failed = True
            return Died() if self.dying else OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return None

    def inject(self, patch: pytest.MonkeyPatch) -> None:
        for name in self.OPERATIONS:
            patch.setattr(os, name, self._guarded(getattr(os, name)))
        real_open = builtins.open

        def open_(file, mode="r", *args, **kwargs):
            if (error := self.fault()) is not None:
                raise error
            f = real_open(file, mode, *args, **kwargs)
            return FaultyFile(f, self) if set(mode) & set("wax+") else f

        patch.setattr(builtins, "open", open_)

    def _guarded(self, real):
        def operation(*args, **kwargs):
            if (error := self.fault()) is not None:
                raise error
            return real(*args, **kwargs)

        return operation


class FaultyFile:
    """A file being written whose every write is an operation of `Faults`: a failed one gets
    half of its bytes to the disk first."""

    def __init__(self, f, faults: Faults) -> None:
        self.f, self.faults = f, faults

    def write(self, data):
        if (error := self.faults.fault()) is not None:
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise error
        return self.f.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()

    def __getattr__(self, name):
        return getattr(self.f, name)


def save_failing_at_every_point(tiny_model, tmp_path, dying: bool) -> list[tuple[int, BaseException | None]]:
    """Save a checkpoint (step 1), then save another (step 2) over it failing at its first file
    operation, then its second, ..., until a save gets through with no operation left to fail.
    After each: the checkpoint, loaded by the path the user knows, is the old or the new one whole
    (meta and weights agree), the next save succeeds and leaves nothing else beside it. Returns
    (step loaded, what the failing save raised) for each point."""
    model, vocab = tiny_model
    newer = copy.deepcopy(model)
    with torch.no_grad():
        newer.head.bias.add_(1.0)
    bias = {1: model.head.bias.detach().clone(), 2: newer.head.bias.detach().clone()}
    outcomes = []
    for at in itertools.count(1):
        path = tmp_path / f"fault-{at}" / "ck"
        save_checkpoint(path, model, vocab, {"step": 1})
        faults, raised = Faults(at, dying), None
        with pytest.MonkeyPatch.context() as patch:
            faults.inject(patch)
            try:
                save_checkpoint(path, newer, vocab, {"step": 2})
            except (Died, PushkinLMError) as err:
                raised = err
        if not faults.failed:
            assert raised is None and load_checkpoint(path).meta["step"] == 2
            break
        loaded = load_checkpoint(path)
        step = loaded.meta["step"]
        assert step in bias and torch.equal(loaded.model.head.bias, bias[step]), f"failing at operation {at}"
        outcomes.append((step, raised))
        save_checkpoint(path, model, vocab, {"step": 3})
        assert load_checkpoint(path).meta["step"] == 3
        assert [p.name for p in path.parent.iterdir()] == ["ck"], f"failing at operation {at}"
    # Failures before the new checkpoint lands keep the old one, those after keep the new one: a
    # save that touched no file, or whose failures all came too late to matter, would not show both.
    assert {step for step, _ in outcomes} == {1, 2}
    return outcomes


def test_a_save_that_dies_at_any_point_leaves_the_old_or_the_new_checkpoint_loadable(tiny_model, tmp_path):
    outcomes = save_failing_at_every_point(tiny_model, tmp_path, dying=True)
    assert all(isinstance(raised, Died) for _, raised in outcomes)


def test_a_save_that_fills_the_disk_at_any_point_says_so_and_loses_nothing(tiny_model, tmp_path):
    for step, raised in save_failing_at_every_point(tiny_model, tmp_path, dying=False):
        if raised is not None:  # a failure to delete what is no longer needed is no failure
            message = str(raised)
            assert "\n" not in message and "No space left on device" in message
            # it names the checkpoint that is on disk: the old one, or the new one once it landed
            assert ("previous checkpoint is intact" if step == 1 else "new checkpoint is in place") in message
        if step == 1:
            assert raised is not None  # the old checkpoint kept, so the user must hear the save failed


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


CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "pushkin_new" / "train.txt"


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


def test_a_save_removes_what_a_crashed_save_left_and_nothing_of_the_users(tiny_model, tmp_path):
    from pushkin_lm.core.files import PARTIAL_MARK

    model, vocab = tiny_model
    crashed = tmp_path / ".ck.a1b2c3d4.tmp"  # a save that died while writing its files
    crashed.mkdir()
    (crashed / PARTIAL_MARK).touch()
    (crashed / "model.safetensors").write_bytes(b"half")
    unmarked = tmp_path / ".ck.q9w8e7r6.tmp"  # one that died between making its folder and marking it
    unmarked.mkdir()
    mine = [tmp_path / ".ck.notes.tmp", tmp_path / ".ck.abcdefgh.tmp"]  # a user's, named alike
    for folder in mine:
        folder.mkdir()
        (folder / "notes.txt").write_text("mine", encoding="utf-8")
    save_checkpoint(tmp_path / "ck", model, vocab, {})
    assert not crashed.exists() and not unmarked.exists()
    assert all((folder / "notes.txt").read_text(encoding="utf-8") == "mine" for folder in mine)
    assert sorted(os.listdir(tmp_path / "ck")) == ["config.json", "model.safetensors"]  # no mark left
