"""The bad-input matrix (docs/errors.md): each case is one line on stderr naming the problem and
the fix, exit status 2, no traceback, and nothing already saved is touched."""

import json
import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_FLAGS, run_script
from safetensors.torch import load_file, save_file

from pushkin_lm.checkpoint import SHIPPED, load_checkpoint
from pushkin_lm.cli import evaluate_main, generate_main, train_main
from pushkin_lm.decoder import Decoder
from pushkin_lm.errors import PushkinLMError
from pushkin_lm.model import ModelConfig
from pushkin_lm.recipe import TrainConfig
from pushkin_lm.run import RunLock
from pushkin_lm.sample import SampleConfig, generate, sample_next
from pushkin_lm.vocab import CharVocab

MAINS = {"generate": generate_main, "evaluate": evaluate_main, "train": train_main}


def edit_config(ck: Path, edit) -> None:
    config = json.loads((ck / "config.json").read_text())
    edit(config)
    (ck / "config.json").write_text(json.dumps(config))


def edit_weights(ck: Path, name: str, value: float) -> None:
    weights = load_file(ck / "model.safetensors")
    weights[name] = torch.full_like(weights[name], value)
    save_file(weights, ck / "model.safetensors")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


# Each case: (command, argument list, what to do to the workspace first, phrase the error must contain).
# In arguments, CK is a copy of a trained checkpoint, RUN a copy of a training run's folder, W the workspace.
CASES = {
    # checkpoints
    "checkpoint missing": ("generate", ["--checkpoint", "W/nowhere"], None, "does not exist"),
    "checkpoint dir empty": (
        "generate",
        ["--checkpoint", "W/empty"],
        lambda w: (w / "empty").mkdir(),
        "no config.json",
    ),
    "checkpoint is a file": ("generate", ["--checkpoint", "W/verse.txt"], None, "is a file"),
    "truncated safetensors": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: truncate(w / "ck/model.safetensors"),
        "not a valid safetensors",
    ),
    "weights file missing": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: (w / "ck/model.safetensors").unlink(),
        "no model.safetensors",
    ),
    "config JSON unparsable": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: (w / "ck/config.json").write_text("{oops"),
        "not valid JSON",
    ),
    "config with wrong types": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(hidden_size="32")),
        "must be int",
    ),
    "weights do not match config": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(hidden_size=64)),
        "do not match",
    ),
    "vocabulary size mismatch": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["vocab"].update(chars="\ufffdab")),
        "vocabulary has 3 characters",
    ),
    "pickle where weights should be": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: (w / "ck/model.safetensors").write_bytes(pickle.dumps({"a": 1})),
        "not a valid safetensors",
    ),
    "newer format version": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c.update(format_version=99)),
        "newer pushkin-lm",
    ),
    "checkpoint of another program": (
        "generate",
        ["--checkpoint", "W/other"],
        lambda w: (w / "other").mkdir() or (w / "other/config.json").write_text('{"model_type": "gpt2"}'),
        "not a pushkin-lm checkpoint",
    ),
    # data files
    "data path missing (train)": (
        "train",
        ["--data", "W/missing.txt", "--out", "W/out"],
        None,
        "does not exist",
    ),
    "data path missing (evaluate)": (
        "evaluate",
        ["--data", "W/missing.txt", "--checkpoint", "CK"],
        None,
        "does not exist",
    ),
    "folder without train.txt": (
        "train",
        ["--data", "W/empty", "--out", "W/out"],
        lambda w: (w / "empty").mkdir(),
        "holds no train.txt",
    ),
    "folder without a text (evaluate)": (
        "evaluate",
        ["--data", "W/empty", "--checkpoint", "CK"],
        lambda w: (w / "empty").mkdir(),
        "neither test.txt nor train.txt",
    ),
    "empty file": (
        "train",
        ["--data", "W/bad.txt", "--out", "W/out"],
        lambda w: (w / "bad.txt").write_bytes(b""),
        "is empty",
    ),
    "binary file": (
        "train",
        ["--data", "W/bad.txt", "--out", "W/out"],
        lambda w: (w / "bad.txt").write_bytes(b"\x7fELF\x02\x01\x00\x00"),
        "looks binary",
    ),
    "non-UTF-8 file": (
        "evaluate",
        ["--data", "W/bad.txt", "--checkpoint", "CK"],
        lambda w: (w / "bad.txt").write_bytes("Мороз и солнце".encode("cp1251")),
        "not UTF-8",
    ),
    "text shorter than a window": (
        "train",
        ["--data", "W/bad.txt", "--out", "W/out"],
        lambda w: (w / "bad.txt").write_text("Мороз и солнце", encoding="utf-8"),
        "too short",
    ),
    # flags
    "max_tokens negative": ("generate", ["--checkpoint", "CK", "--max_tokens", "-5"], None, "0 or more"),
    "max_tokens non-numeric": ("generate", ["--checkpoint", "CK", "--max-tokens", "ten"], None, "invalid"),
    "temperature below 0": (
        "generate",
        ["--checkpoint", "CK", "--temperature", "-1"],
        None,
        "--temperature: must be a number of 0 or more",
    ),
    "temperature non-numeric": ("generate", ["--checkpoint", "CK", "--temperature", "hot"], None, "invalid"),
    "precision unknown": (
        "generate",
        ["--checkpoint", "CK", "--precision", "int4"],
        None,
        "invalid choice: 'int4' (choose from 'int8', 'float32')",
    ),
    "top_p zero": (
        "generate",
        ["--checkpoint", "CK", "--top_p", "0"],
        None,
        "--top_p/--top-p: must be in (0, 1]",
    ),
    "top_p above 1": (
        "generate",
        ["--checkpoint", "CK", "--top_p", "1.5"],
        None,
        "--top_p/--top-p: must be in (0, 1]",
    ),
    "top_k zero": ("generate", ["--checkpoint", "CK", "--top_k", "0"], None, "at least 1"),
    "num_samples zero": ("generate", ["--checkpoint", "CK", "--num_samples", "0"], None, "at least 1"),
    "prompt outside the vocabulary": (
        "generate",
        ["--checkpoint", "CK", "--prompt", "Hello"],
        None,
        "does not know",
    ),
    "prompt file missing": (
        "generate",
        ["--checkpoint", "CK", "--prompt_file", "W/nope.txt"],
        None,
        "cannot read",
    ),
    "unknown option (generate)": ("generate", ["--frobnicate"], None, "unrecognized arguments"),
    "unknown option (train)": ("train", ["--hidden", "--out", "W/out"], None, "unrecognized arguments"),
    "evaluate without --data": ("evaluate", ["--checkpoint", "CK"], None, "required: --data"),
    "max_iters zero": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--max_iters", "0"],
        None,
        "at least 1",
    ),
    "batch_size negative": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--batch_size", "-1"],
        None,
        "at least 1",
    ),
    "learning_rate non-numeric": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--learning_rate", "fast"],
        None,
        "invalid",
    ),
    "dropout out of range": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--dropout", "1.5", "--max_iters", "1"],
        None,
        "--dropout: must be in [0, 1)",
    ),
    "weight drop out of range": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--weight_drop", "1", "--max_iters", "1"],
        None,
        "--weight_drop/--weight-drop: must be in [0, 1)",
    ),
    "weight-average decay out of range": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--ema_decay", "1", "--max_iters", "1"],
        None,
        "--ema_decay/--ema-decay: must be in [0, 1)",
    ),
    "out dir not writable": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/verse.txt/out"],
        None,
        "cannot write to out dir",
    ),
    "out dir already holds a run": ("train", ["--data", "W/verse.txt", "--out", "RUN"], None, "--overwrite"),
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
    # round 2 (docs/errors.md, classes a-h)
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
}
if not torch.cuda.is_available():  # CI's machine: asking for a GPU must fail clearly, not fall back
    CASES["device cuda without a GPU"] = (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--device", "cuda", "--max_iters", "1"],
        None,
        "torch sees no CUDA GPU",
    )


@pytest.fixture
def workspace(tmp_path, trained_dir, verse_file):
    assert verse_file == tmp_path / "verse.txt"
    shutil.copytree(trained_dir, tmp_path / "run")
    shutil.copytree(trained_dir / "best", tmp_path / "ck")
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)  # generate pins one thread for the process


def snapshot(root: Path) -> dict:
    """Every file's bytes and every folder's name: an empty folder left behind counts too."""
    return {p: p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, workspace, capsys):
    command, args, prepare, phrase = CASES[case]
    if prepare:
        prepare(workspace)
    subst = {"CK": str(workspace / "ck"), "RUN": str(workspace / "run")}
    argv = [subst.get(a, a.replace("W/", f"{workspace}/", 1)) for a in args]
    before = snapshot(workspace)
    try:
        code = MAINS[command](argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert phrase in err, err
    assert snapshot(workspace) == before  # nothing saved was touched, nothing half-written was left
    assert captured.out == ""  # nothing, not even a prompt, went to stdout first


API_CASES = {
    "load_checkpoint of a missing folder": lambda w: load_checkpoint(w / "nowhere"),
    "vocabulary JSON without chars": lambda w: CharVocab.from_json({"letters": "abc"}),
    "model config with zero width": lambda w: ModelConfig(vocab_size=10, hidden_size=0),
    "sampling with top_p above 1": lambda w: list(
        generate(
            Decoder(load_checkpoint(w / "ck").model),
            load_checkpoint(w / "ck").vocab,
            "",
            SampleConfig(top_p=2.0),
        )
    ),
    "training config with zero batch": lambda w: TrainConfig(batch_size=0),
}


@pytest.mark.parametrize("case", API_CASES)
def test_bad_input_through_the_python_api(case, workspace):
    with pytest.raises(PushkinLMError) as raised:
        API_CASES[case](workspace)
    assert "\n" not in str(raised.value)


# ----------------------------------------------------------------------------- round 2, beyond the matrix


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
