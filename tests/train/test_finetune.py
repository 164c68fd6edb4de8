"""Fine-tuning (`--init_from`): a new run starts from a trained model's weights with a fresh
optimizer and schedule; characters the model has never seen extend its vocabulary."""

import json
from dataclasses import replace

import pytest
import torch
from conftest import TINY_FLAGS, TINY_MODEL, make_verse, run_script, tiny_run_config

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.train.finetune import extend_vocab, grown_model
from pushkin_lm.train.recipe import DEFAULT_START, PRESETS, new_run
from pushkin_lm.train.trainer import Trainer

NEW_TEXT = "Quiet night, the river sleeps;\nzephyr, QUIET!\n\n</s>\n\n"  # Latin letters it has never seen


def test_new_characters_extend_the_vocabulary_and_the_old_ones_keep_their_ids():
    old = CharVocab.build("мороз и солнце")
    grown = extend_vocab(old, "солнце, zephyr!")
    assert grown.chars[: len(old)] == old.chars
    assert grown.chars[len(old) :] == tuple(sorted(set("zephyr,!") - set(old.chars)))
    assert extend_vocab(old, "мороз") == old


def test_the_grown_network_is_the_trained_one_and_new_characters_start_as_unknown(trained_dir):
    start = load_checkpoint(trained_dir)
    vocab = extend_vocab(start.vocab, NEW_TEXT)
    grown = grown_model(start, ModelConfig(**{**start.model.cfg.to_json(), "vocab_size": len(vocab)})).eval()
    ids = torch.tensor([start.vocab.encode(make_verse(5)[:120])])
    with torch.no_grad():
        before, after = start.model(ids)[0], grown(ids)[0]
    old = len(start.vocab)
    assert torch.equal(after[..., :old], before)
    assert torch.equal(after[..., old:], before[..., :1].expand(-1, -1, len(vocab) - old))


def test_fine_tuning_on_a_new_text_records_where_it_started(trained_dir, tmp_path):
    data = tmp_path / "mine.txt"
    data.write_text(make_verse(7) + NEW_TEXT * 20, encoding="utf-8")
    out = tmp_path / "tuned"
    flags = ["--init_from", str(trained_dir), "--data", str(data), "--out", str(out), "--no_progress"]
    tuned = run_script("train", *flags, "--max_iters", "12", "--eval_interval", "6", "--block_size", "16")
    assert tuned.returncode == 0, tuned.stderr
    start, result = load_checkpoint(trained_dir), load_checkpoint(out / "last")
    assert result.vocab.chars[: len(start.vocab)] == start.vocab.chars
    assert set("Qzephyr") <= set(result.vocab.chars)
    origin = result.meta["started_from"]
    assert origin["checkpoint"] == str(start.path) and origin["steps"] == start.meta["step"]
    assert origin["new_chars"] == "".join(result.vocab.chars[len(start.vocab) :])
    assert result.meta["train_config"]["init_from"] == str(trained_dir)
    assert result.meta["step"] == 12  # a fresh schedule: the count starts again
    assert result.meta["train_config"]["learning_rate"] == 1e-4  # the finetune preset's
    assert result.model.cfg.hidden_size == start.model.cfg.hidden_size  # its network, not the preset's
    trainer = json.loads((out / "last" / "trainer.json").read_text())
    assert trainer["step"] == 12
    # A fine-tuned run resumes like any other, with its grown vocabulary.
    again = run_script("train", "--resume", str(out), "--max_iters", "18", "--no_progress")
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(out / "last").meta["started_from"] == origin


def test_fine_tuning_may_change_dropout_but_not_the_network(trained_dir, verse_file, tmp_path):
    common = ["--init_from", str(trained_dir), "--data", str(verse_file), "--max_iters", "2", *TINY_FLAGS]
    resized = run_script("train", *common, "--out", str(tmp_path / "a"), "--hidden_size", "64")
    assert resized.returncode == 2 and "Traceback" not in resized.stderr
    assert "brings its own network (hidden_size: 32 there, 64 given); drop --hidden_size" in resized.stderr
    more_dropout = run_script("train", *common, "--out", str(tmp_path / "b"), "--dropout", "0.4")
    assert more_dropout.returncode == 0, more_dropout.stderr
    assert load_checkpoint(tmp_path / "b").model.cfg.dropout == 0.4


def test_a_missing_starting_checkpoint_is_one_line_naming_the_flag(verse_file, tmp_path):
    missing = tmp_path / "nowhere"
    flags = ["--init_from", str(missing), "--data", str(verse_file), "--out", str(tmp_path / "o")]
    done = run_script("train", *flags)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"checkpoint {missing} does not exist; pass --init_from with" in done.stderr


def test_the_python_api_refuses_a_network_other_than_the_checkpoints(trained_dir, verse_file, tmp_path):
    cfg = tiny_run_config(verse_file, tmp_path / "out", max_iters=2, init_from=str(trained_dir))
    with pytest.raises(PushkinLMError, match="differ from those of"):
        Trainer(cfg, ModelConfig(**{**TINY_MODEL, "hidden_size": 64}), log=lambda *_: None)


def test_a_preset_given_with_init_from_replaces_the_finetune_preset(trained_dir, verse_file, tmp_path):
    flags = ["--init_from", str(trained_dir), "--data", str(verse_file), "--max_iters", "2", *TINY_FLAGS]
    done = run_script("train", *flags, "--out", str(tmp_path / "run"), "--preset", "default")
    assert done.returncode == 0, done.stderr
    assert load_checkpoint(tmp_path / "run").meta["train_config"]["learning_rate"] == 2e-3


def test_a_new_run_starts_from_the_base_unless_told_a_start_a_preset_or_a_network():
    base = load_checkpoint("base")
    cfg, model = new_run(None, {"data": "mine.txt"})
    assert cfg.init_from == DEFAULT_START == "base" and model == replace(
        base.model.cfg, vocab_size=model.vocab_size
    )
    assert cfg.learning_rate == PRESETS["finetune"]["learning_rate"]  # the fine-tuning recipe
    assert new_run(None, {"init_from": "none"})[0].init_from is None
    assert new_run("small", {})[0].init_from is None
    scratch, network = new_run(None, {"hidden_size": 64})
    assert scratch.init_from is None and network.hidden_size == 64
