"""Exact resume, signals, and what a resumed run may and may not change."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_FLAGS, TINY_MODEL, run_script, tiny_run_config

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.store.run import load_run
from pushkin_lm.train.recipe import TrainConfig
from pushkin_lm.train.trainer import Trainer

SETTINGS = ModelConfig(**{**TINY_MODEL, "dropout": 0.2})  # dropout makes the RNG state matter


def config(data, out, **kw) -> TrainConfig:
    return tiny_run_config(data, out, threads=1, **kw)


@pytest.mark.parametrize(("stateful", "ema_decay"), [(False, 0.9), (True, 0.9), (True, 0.0)])
def test_stopping_and_resuming_gives_bit_identical_weights(tmp_path, verse_file, stateful, ema_decay):
    quiet = {"log": lambda *_: None}
    recipe = {"stateful": stateful, "ema_decay": ema_decay}
    Trainer(config(verse_file, tmp_path / "straight", **recipe), SETTINGS, **quiet).run()
    Trainer(config(verse_file, tmp_path / "split", **recipe), SETTINGS, **quiet).run(stop_at=15)
    assert load_checkpoint(tmp_path / "split" / "last").meta["step"] == 15
    Trainer.resume(tmp_path / "split", {}, **quiet).run()

    straight = load_checkpoint(tmp_path / "straight" / "last").model.state_dict()
    resumed = load_checkpoint(tmp_path / "split" / "last").model.state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    # The point of the test: without restored state the weights would differ.
    Trainer(config(verse_file, tmp_path / "fresh", **recipe, seed=2), SETTINGS, **quiet).run()
    fresh = load_checkpoint(tmp_path / "fresh" / "last").model.state_dict()
    assert not torch.equal(fresh["head.weight"], straight["head.weight"])


def test_a_resumed_runs_training_time_goes_on_from_where_it_stopped(tmp_path, verse_file):
    quiet = {"log": lambda *_: None}
    Trainer(config(verse_file, tmp_path / "run", eval_interval=5), SETTINGS, **quiet).run(stop_at=10)
    logged = lambda: [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]  # noqa: E731
    state = load_run(tmp_path / "run").state
    # The saved clock counts the last evaluation as eval_seconds does, so what it leaves for
    # training is the train_s logged: a resume continues from that, not from less.
    assert state.elapsed_s - state.eval_seconds == pytest.approx(logged()[-1]["train_s"], abs=0.002)
    Trainer.resume(tmp_path / "run", {}, **quiet).run()
    times = [entry["train_s"] for entry in logged()]
    assert len(times) == 6 and times == sorted(times) and times[0] > 0, times


def test_a_resume_on_a_changed_text_goes_on_only_when_told(tmp_path, verse_file):
    quiet = {"log": lambda *_: None}
    trainer = Trainer(config(verse_file, tmp_path / "run"), SETTINGS, **quiet)
    trainer.run(stop_at=10)
    assert load_run(tmp_path / "run").state.data_sha256 == [s.digest() for s in trainer.corpus.sources]
    Trainer.resume(tmp_path / "run", {}, **quiet)  # the same text: no objection
    other = tmp_path / "other.txt"
    other.write_text(
        "\n".join(reversed(verse_file.read_text(encoding="utf-8").splitlines())), encoding="utf-8"
    )
    with pytest.raises(PushkinLMError, match="pass --allow_changed_data"):
        Trainer.resume(tmp_path / "run", {"data": str(other)}, **quiet)
    Trainer.resume(tmp_path / "run", {"data": str(other)}, allow_changed_data=True, **quiet).run()
    assert load_run(tmp_path / "run").state.step == 30


def test_resume_with_longer_max_iters_continues_the_count(tmp_path, verse_file):
    out = str(tmp_path / "run")
    common = [*TINY_FLAGS, "--eval_interval", "10"]
    first = run_script("train", "--data", str(verse_file), "--out", out, "--max_iters", "10", *common)
    assert first.returncode == 0, first.stderr
    again = run_script("train", "--resume", out, "--max_iters", "20", "--no_progress")
    assert again.returncode == 0, again.stderr
    assert "resuming at step 10" in again.stdout and "done: 20 steps" in again.stdout
    assert load_checkpoint(tmp_path / "run" / "last").meta["step"] == 20


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["--hidden_size", "64"], "other model settings"),
        (["--batch_size", "5"], "--batch_size cannot change"),
    ],
)
def test_resume_refuses_changed_settings(trained_dir, tmp_path, args, phrase):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_dir, run)
    before = (run / "last" / "model.safetensors").read_bytes()
    result = run_script("train", "--resume", str(run), *args)
    assert result.returncode == 2 and phrase in result.stderr and result.stderr.count("\n") == 1
    assert (run / "last" / "model.safetensors").read_bytes() == before


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path):
    result = run_script("train", "--resume", str(tmp_path))
    assert result.returncode == 2 and "no resumable run" in result.stderr


BIN = Path(sys.executable).parent  # where the installed commands are, beside the interpreter


@pytest.mark.parametrize(
    ("program", "named"),
    [
        ([str(BIN / "pushkin-lm"), "train"], "pushkin-lm train"),
        ([sys.executable, "code/train.py"], "python code/train.py"),
    ],
)
def test_the_resume_command_named_at_ctrl_c_works_as_typed(tmp_path, verse_file, program, named):
    """The command is the program as it was started (an installed `pushkin-lm train` has no
    code/train.py), the folder quoted (a space in it), and typed into a shell it finishes the run."""
    out = tmp_path / "my run"
    args = ["--data", str(verse_file), "--out", str(out), "--max_iters", "30", "--eval_interval", "5"]
    proc = subprocess.Popen([*program, *args, *TINY_FLAGS], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not (out / "last" / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    advice = re.search(r"continue with: (.*)$", stderr.strip()).group(1)
    assert advice.startswith(f"{named} --resume ")
    user = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    followed = subprocess.run(
        ["sh", "-c", advice], cwd=ROOT, env=user, capture_output=True, text=True, timeout=240
    )
    assert followed.returncode == 0, followed.stderr
    assert load_checkpoint(out / "last").meta["step"] == 30


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_last_and_names_the_resume_command(tmp_path, verse_file, sig):
    out = tmp_path / "run"
    args = ["--data", str(verse_file), "--out", str(out), "--max_iters", "100000", "--max_minutes", "5"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "code" / "train.py"), *args, *TINY_FLAGS, "--eval_interval", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while not (out / "last" / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert stderr.strip().count("\n") == 0 and "Traceback" not in stderr
    assert f"--resume {out}" in stderr and sig.name in stderr
    step = load_checkpoint(out / "last").meta["step"]
    resumed = run_script("train", "--resume", str(out), "--max_iters", str(step + 3), "--no_progress")
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(out / "last").meta["step"] == step + 3
