"""Bad input, second round (docs/errors.md, classes a-h): endless inputs, implausible sizes,
out-of-range numbers, damaged weights, output that cannot be written, run folders, and messages
that named the wrong problem; then what is handled without an error."""

import math
import os
import subprocess
import sys

import pytest
import torch
from badinput import check_case, edit_config, edit_trainer_state, edit_weights
from conftest import ROOT, TINY_FLAGS, run_script

from pushkin_lm.checkpoint import SHIPPED
from pushkin_lm.cli import train_main
from pushkin_lm.errors import PushkinLMError
from pushkin_lm.run import RunLock
from pushkin_lm.sample import sample_next

CASES = {
    "prompt file endless": (
        "generate",
        ["--checkpoint", "CK", "--prompt_file", "/dev/zero"],
        None,
        "larger than 16 MiB",
    ),
    "data file endless (train)": (
        "train",
        ["--data", "/dev/zero", "--out", "W/out"],
        None,
        "larger than 256 MiB",
    ),
    "data file endless (evaluate)": (
        "evaluate",
        ["--data", "/dev/zero", "--checkpoint", "CK"],
        None,
        "larger than 256 MiB",
    ),
    "hidden size absurd": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--hidden_size", "10000000"],
        None,
        "would need about",
    ),
    "attention window absurd": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--attn_window", "1000000000000"],
        None,
        "--attn_window",
    ),
    "batch absurd": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--batch_size", "1000000000", "--block_size", "8"],
        None,
        "would need about",
    ),
    "checkpoint config with an absurd size": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(attn_window=10**12)),
        "would need about",
    ),
    "checkpoint config with an absurd depth": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(num_layers=10**9)),
        "would need about",
    ),
    "seed beyond 64 bits (generate)": (
        "generate",
        ["--checkpoint", "CK", "--seed", str(2**64)],
        None,
        "from 0 to 2**64 - 1",
    ),
    "seed negative (train)": (
        "train",
        ["--data", "W/verse.txt", "--seed", "-1"],
        None,
        "from 0 to 2**64 - 1",
    ),
    "temperature infinite": ("generate", ["--checkpoint", "CK", "--temperature", "inf"], None, "finite"),
    "temperature NaN": ("generate", ["--checkpoint", "CK", "--temperature", "nan"], None, "finite"),
    "weight decay NaN": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--weight_decay", "nan"],
        None,
        "--weight_decay/--weight-decay: must be a finite number, got nan",
    ),
    "learning rate overflowing": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--learning_rate", "1e400"],
        None,
        "finite",
    ),
    "NaN weights": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_weights(w / "ck", "head.weight", math.nan),
        "NaN or infinite values in head.weight",
    ),
    "infinite weights (evaluate)": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK", "--json"],
        lambda w: edit_weights(w / "ck", "embed.weight", math.inf),
        "NaN or infinite values in embed.weight",
    ),
    "NaN calibration temperature": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK", "--json"],
        lambda w: edit_weights(w / "ck", "calibration_temperature", math.nan),
        "NaN or infinite values in calibration_temperature",
    ),
    "zero calibration temperature": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_weights(w / "ck", "calibration_temperature", 0.0),
        "calibration temperature of 0.0",
    ),
    "weights file far larger than its config": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: (w / "ck/model.safetensors").write_bytes(b"\x08" + bytes(2**21)),
        "larger than the network its config.json describes",
    ),
    "resume into another --out": ("train", ["--resume", "RUN", "--out", "W/elsewhere"], None, "drop --out"),
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
    "out holding only a log": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/logged"],
        lambda w: (w / "logged").mkdir() or (w / "logged/log.jsonl").write_text("{}\n"),
        "already holds a training run",
    ),
    "resume with another text": (
        "train",
        ["--resume", "RUN", "--data", "W/other.txt"],
        lambda w: (w / "other.txt").write_text("Мороз и солнце; день чудесный! " * 40, encoding="utf-8"),
        "has other characters than the text",
    ),
    "val split of a 10-character file": (
        "evaluate",
        ["--data", "W/short.txt", "--checkpoint", "CK", "--split", "val"],
        lambda w: (w / "short.txt").write_text("луна и мор", encoding="utf-8"),
        "the val split of",
    ),
    "threads beyond the cores": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--threads", "1000"],
        None,
        "CPU cores",
    ),
    "fine-tuning with another network size": (
        "train",
        ["--init_from", "RUN", "--data", "W/verse.txt", "--out", "W/out", "--hidden_size", "64"],
        None,
        "brings its own network (hidden_size: 32 there, 64 given); drop --hidden_size",
    ),
    "fine-tuning from a missing checkpoint": (
        "train",
        ["--init_from", "W/nowhere", "--data", "W/verse.txt", "--out", "W/out"],
        None,
        "does not exist; pass --init_from with",
    ),
    "resuming a 2-process run on 1": (
        "train",
        ["--resume", "RUN"],
        lambda w: edit_trainer_state(w / "run" / "last", processes=2),
        "trained by 2 processes, not 1; resume it with 2 (torchrun, --nproc_per_node=2",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


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


def test_temperatures_beyond_float32_take_their_limiting_meaning():
    logits = torch.tensor([float("-inf"), 0.5, 3.0, 1.0])
    assert all(sample_next(logits, 1e-45) == 2 for _ in range(20))  # tiny: greedy
    drawn = {sample_next(logits, 1e39, generator=torch.Generator().manual_seed(s)) for s in range(200)}
    assert drawn == {1, 2, 3}  # huge: uniform over the allowed ids, never the masked one
    assert sample_next(logits, 1e39, top_k=1) == 2


def test_generate_with_huge_temperature_writes_verse_not_a_masked_character(workspace):
    result = run_script(
        "generate",
        "--checkpoint",
        str(workspace / "ck"),
        "--temperature",
        "1e39",
        "--max_tokens",
        "200",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert len(set(result.stdout)) > 10  # uniform over the vocabulary, not one character repeated


@pytest.mark.parametrize(
    "setup, phrase",
    [
        ({"env": {"PYTHONIOENCODING": "ascii"}}, "cannot encode Cyrillic"),
        ({"stdout": "/dev/full"}, "No space left on device"),
        ({"stdout": None}, "standard output is closed"),
    ],
    ids=["ascii stdout", "full disk", "closed stdout"],
)
def test_output_that_cannot_be_written_is_one_line_on_stderr(workspace, setup, phrase):
    command = [sys.executable, str(ROOT / "code/generate.py"), "--checkpoint", str(workspace / "ck")]
    env = {**os.environ, **setup.get("env", {})}
    if "stdout" not in setup:
        stdout = subprocess.PIPE
    elif setup["stdout"] is None:
        stdout = subprocess.DEVNULL
        command = ["sh", "-c", 'exec "$@" >&-', "sh", *command]
    else:
        stdout = open(setup["stdout"], "w")  # noqa: SIM115 - closed with the process
    result = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert phrase in result.stderr


def test_a_closed_pipe_stays_quiet(workspace):
    generate_ = f'"{sys.executable}" code/generate.py --checkpoint "{workspace / "ck"}" --max_tokens 5000'
    command = f"{generate_} | head -c 10"
    result = subprocess.run(["sh", "-c", command], cwd=ROOT, capture_output=True, timeout=120)
    assert len(result.stdout) == 10 and result.stderr == b""


def test_a_prompt_from_a_pipe_bom_and_windows_line_endings_are_read_as_plain_text(workspace, verse):
    line = verse.splitlines()[0]
    (workspace / "windows.txt").write_bytes(b"\xef\xbb\xbf" + f"{line}\r\n{line}\r\n".encode())
    args = ["--checkpoint", str(workspace / "ck"), "--max_tokens", "5", "--seed", "1"]
    from_file = run_script("generate", *args, "--prompt_file", str(workspace / "windows.txt"))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.startswith(f"{line}\n{line}\n")
    piped = subprocess.run(
        [sys.executable, str(ROOT / "code/generate.py"), *args, "--prompt_file", "/dev/stdin"],
        input=line,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and piped.stdout.startswith(line), piped.stderr


def test_redirected_training_writes_plain_lines_not_progress_frames(workspace):
    log = workspace / "train.log"
    with open(log, "w") as sink:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "code/train.py"),
                "--data",
                str(workspace / "verse.txt"),
                "--out",
                str(workspace / "plain"),
                "--max_iters",
                "20",
                "--eval_interval",
                "10",
                *TINY_FLAGS[:-1],
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=240,
            check=True,
        )
    text = log.read_text()
    assert "\r" not in text and "\x1b" not in text
    assert text.count("step     10") == 1 and "done: 20 steps" in text
