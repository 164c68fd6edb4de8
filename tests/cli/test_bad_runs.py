"""Bad run folders (docs/errors.md): an --out that already holds a run, a log or a checkpoint, that
is empty or not UTF-8, or holds a symbolic link where the run writes; a --resume of a folder with no
run, with a damaged trainer state, other settings, another text, another --out or another number
of processes; and a folder that another training holds locked.

A run folder holds hours of training, so none of these may write into it: each is one line on
stderr naming the problem and the fix (--overwrite, drop a flag, another --out, the torchrun
command), exit status 2, no traceback, and the workspace byte for byte as it was
(`badinput.check_case`). A training that fails before its first save removes the folder it made.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from badinput import check_case, edit_trainer_state, edit_trainer_tensors
from conftest import ROOT, TINY_FLAGS, run_script

from pushkin_lm.cli.main import train_main
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.store.checkpoint import SHIPPED
from pushkin_lm.store.run import RunLock

# A user's shell: `python` is the interpreter running these tests.
USER_ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

CASES = {
    "out dir already holds a run": (
        "train",
        ["--data", "W/verse.txt", "--out", "RUN"],
        None,
        "run already holds a training run; continue it with: ",
    ),
    # Advice to resume where resume would refuse: only a run that resume takes is offered it.
    "out holding only a log": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/logged"],
        lambda w: (w / "logged").mkdir() or (w / "logged/log.jsonl").write_text("{}\n"),
        "logged already holds a training run, which cannot be resumed (it has no last/ checkpoint); "
        "pass --overwrite to replace it, or choose another --out",
    ),
    "out holding a damaged last/": (
        "train",
        ["--data", "W/verse.txt", "--out", "RUN"],
        lambda w: (w / "run" / "last" / "trainer.json").write_text("{step: 3"),
        "which cannot be resumed (its last/ checkpoint is damaged); pass --overwrite",
    ),
    "out holding a 2-process run": (
        "train",
        ["--data", "W/verse.txt", "--out", "RUN"],
        lambda w: edit_trainer_state(w / "run" / "last", processes=2),
        "continue it with: torchrun --standalone --nproc_per_node=2 ",
    ),
    "out at a checkpoint folder": (
        "train",
        ["--data", "W/verse.txt", "--out", "CK"],
        None,
        "is a checkpoint folder",
    ),
    "out at the shipped checkpoint": (
        "train",
        ["--data", "W/verse.txt", "--out", str(SHIPPED), "--overwrite"],
        None,
        "is a checkpoint folder",
    ),
    "resume with other model sizes": (
        "train",
        ["--resume", "RUN", "--hidden_size", "64"],
        None,
        "other model settings",
    ),
    "resume of a folder with no run": (
        "train",
        ["--resume", "W/empty"],
        lambda w: (w / "empty").mkdir(),
        "no resumable run",
    ),
    "resume into another --out": ("train", ["--resume", "RUN", "--out", "W/elsewhere"], None, "drop --out"),
    "resume with another text": (
        "train",
        ["--resume", "RUN", "--data", "W/other.txt"],
        lambda w: (w / "other.txt").write_text("Мороз и солнце; день чудесный! " * 40, encoding="utf-8"),
        "has other characters than the text",
    ),
    "resuming a 2-process run on 1": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_state(w / "run" / "last", processes=2),
        "trained by 2 processes, not 1; resume it with 2 (torchrun, --nproc_per_node=2",
    ),
    "resume on a changed text": (
        "train",
        ["--resume", "RUN", "--data", "W/reordered.txt"],
        lambda w: (w / "reordered.txt").write_text(
            "\n".join(reversed((w / "verse.txt").read_text(encoding="utf-8").splitlines())), encoding="utf-8"
        ),
        "is not the text the run in",
    ),
    "--allow_changed_data on a new run": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/new", "--allow_changed_data"],
        None,
        "only goes with --resume",
    ),
    # Damaged trainer state: each value is checked before use, and named.
    "trainer.json step as text": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_state(w / "run" / "last", step="3"),
        "trainer.json: step must be a whole number from 0 to 2**63 - 1, got '3'; the checkpoint is damaged",
    ),
    "trainer.json negative time": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_state(w / "run" / "last", elapsed_s=-5),
        "elapsed_s must be a finite number of 0 or more",
    ),
    "trainer.json unknown field": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_state(w / "run" / "last", stepp=3),
        "it has an unknown field 'stepp'",
    ),
    "trainer.json not JSON": (
        "train",
        ["--resume", "RUN"],
        lambda w: (w / "run" / "last" / "trainer.json").write_text("{step: 3"),
        "trainer.json: not valid JSON",
    ),
    "trainer.safetensors of another shape": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_tensors(
            w / "run" / "last", lambda t: t.update({"optimizer.0.exp_avg": t["optimizer.0.exp_avg"][:1]})
        ),
        "optimizer.0.exp_avg has shape",
    ),
    "trainer.safetensors with a NaN moment": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_tensors(
            w / "run" / "last", lambda t: t["optimizer.1.exp_avg"].fill_(float("nan"))
        ),
        "holds NaN or infinite values in optimizer.1.exp_avg",
    ),
    "trainer.safetensors not safetensors": (
        "train",
        ["--resume", "RUN"],
        lambda w: (w / "run" / "last" / "trainer.safetensors").write_bytes(b"\x00" * 64),
        "trainer.safetensors: not a valid safetensors file",
    ),
    # Where the run writes: never through a link, never at a path it could not record.
    "a .lock symlink in a fresh --out": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/fresh"],
        lambda w: (w / "fresh").mkdir() or (w / "fresh" / ".lock").symlink_to(w / "verse.txt"),
        ".lock is a symbolic link, and a training run never writes through one",
    ),
    "a log.jsonl symlink in --out": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/fresh", "--overwrite"],
        lambda w: (w / "fresh").mkdir() or (w / "fresh" / "log.jsonl").symlink_to(w / "verse.txt"),
        "log.jsonl is a symbolic link",
    ),
    "--out empty": ("train", ["--data", "W/verse.txt", "--out", ""], None, "--out is empty"),
    "--out not UTF-8": (
        "train",
        ["--data", "W/verse.txt", "--out", os.fsdecode(b"W/caf\xe9")],
        None,
        "is not UTF-8 (byte 0xe9)",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_run(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


def test_the_advice_for_a_folder_holding_a_run_works_when_followed(workspace):
    """The command the refusal names, typed into a shell where the user is, resumes the run."""
    out = workspace / "my run"  # a space: the path must come quoted
    (workspace / "run").rename(out)
    refused = run_script("train", "--data", str(workspace / "verse.txt"), "--out", str(out), *TINY_FLAGS)
    assert refused.returncode == 2, refused.stderr
    advice = re.search(r"continue it with: (.*); or pass --overwrite", refused.stderr).group(1)
    assert advice.startswith("python ") and "--resume" in advice
    followed = subprocess.run(
        ["sh", "-c", advice], cwd=ROOT, env=USER_ENV, capture_output=True, text=True, timeout=240
    )
    assert followed.returncode == 0, followed.stderr
    assert "done: 60 steps" in followed.stdout


def test_a_second_training_into_a_locked_folder_is_refused_naming_the_first(workspace, capsys):
    with RunLock(workspace / "busy"):
        code = train_main(
            ["--data", str(workspace / "verse.txt"), "--out", str(workspace / "busy"), *TINY_FLAGS]
        )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"in use by another training run (pid {os.getpid()} on" in err


def test_a_start_that_fails_after_locking_leaves_no_folder_behind(tmp_path):
    with pytest.raises(PushkinLMError), RunLock(tmp_path / "new" / "run"):
        raise PushkinLMError("the first step failed")
    assert not (tmp_path / "new" / "run").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(PushkinLMError), RunLock(tmp_path / "kept"):
        raise PushkinLMError("the first step failed")
    assert (tmp_path / "kept").is_dir()  # a folder the user made stays
