"""Output that cannot be written (docs/errors.md): an --out path that cannot be a folder, a
standard output that is closed, full (/dev/full) or cannot encode Cyrillic, a pipe whose reader
has gone, and a standard output that is a file rather than a terminal.

Each failure is one line on stderr that names the cause and the fix (PYTHONIOENCODING=utf-8,
another --out), exit status 2 and no traceback; an --out that cannot be written leaves the
workspace byte for byte as it was (`badinput.check_case`). A reader that stops early (`| head`)
is not an error and stays quiet; a redirected training log holds plain lines, not progress frames.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from badinput import check_case
from conftest import ROOT, TINY_FLAGS


def fifo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def log_of(run: Path, text: bytes) -> None:
    run.mkdir()
    (run / "log.jsonl").write_bytes(text)


CASES = {
    "out dir not writable": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/verse.txt/out"],
        None,
        "cannot write to out dir",
    ),
    # A path that runs under a file: the system says only "File exists" or "Not a directory".
    "out under a file": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/verse.txt/sub/run"],
        None,
        "verse.txt/sub/run: " + "W/verse.txt is a file, not a folder; choose another --out",
    ),
    "picture under a file": (
        "plot",
        ["RUN", "--png", "W/verse.txt/x.png"],
        None,
        "x.png: W/verse.txt is a file",
    ),
    "attention picture under a file": (
        "attention",
        ["--text", "луна", "--checkpoint", "CK", "--out", "W/verse.txt/a/a.png"],
        None,
        "a.png: W/verse.txt is a file, not a folder; choose another path",
    ),
    "data under a file (evaluate)": (
        "evaluate",
        ["--data", "W/verse.txt/x.txt", "--checkpoint", "CK"],
        None,
        "x.txt cannot be there: W/verse.txt is a file, not a folder; check the --data path",
    ),
    "data under a file (train)": (
        "train",
        ["--data", "W/verse.txt/x.txt", "--out", "W/out"],
        None,
        "x.txt cannot be there: W/verse.txt is a file, not a folder",
    ),
    "checkpoint under a file": (
        "generate",
        ["--checkpoint", "W/verse.txt/ck"],
        None,
        "ck cannot be there: W/verse.txt is a file, not a folder; pass --checkpoint",
    ),
    "checkpoint under a file (push)": (
        "push",
        ["W/verse.txt/ck", "someone/model"],
        None,
        "W/verse.txt is a file",
    ),
    "resume under a file": (
        "train",
        ["--resume", "W/verse.txt/run"],
        None,
        "W/verse.txt is a file, not a folder",
    ),
    "prompt file under a file": (
        "generate",
        ["--checkpoint", "CK", "--prompt_file", "W/verse.txt/p.txt"],
        None,
        "cannot read W/verse.txt/p.txt: W/verse.txt is a file, not a folder; check the path",
    ),
    "run log under a file": (
        "plot",
        ["W/verse.txt/run"],
        None,
        "log.jsonl: W/verse.txt is a file, not a folder",
    ),
    # A run's log is read by the picture commands: a pipe would hang them, an endless file fill memory.
    "run log a named pipe": (
        "plot",
        ["W/piped"],
        lambda w: fifo(w / "piped/log.jsonl"),
        "piped/log.jsonl is a named pipe, not a file; give the --out folder of a training run",
    ),
    "run log a folder": (
        "plot",
        ["W/odd"],
        lambda w: (w / "odd/log.jsonl").mkdir(parents=True),
        "odd/log.jsonl is a folder, not a file",
    ),
    "run log endless": (
        "plot",
        ["W/big"],
        lambda w: log_of(w / "big", b"\n" * (16 * 2**20 + 1)),
        "big/log.jsonl is larger than 16 MiB, the most pushkin-lm reads as a training log",
    ),
    "run log of damaged lines only": (
        "plot",
        ["W/bad"],
        lambda w: log_of(
            w / "bad", b'{"step": 1, "elapsed_s": 1, "train_nats_per_char": ' + b"9" * 5000 + b"}\n"
        ),
        "no evaluations yet (1 damaged line skipped, first at line 1: a number of over 4,300 digits); wait",
    ),
    "picture path a named pipe": (
        "plot",
        ["RUN", "--png", "W/pipe.png"],
        lambda w: fifo(w / "pipe.png"),
        "pipe.png: it is not a file; choose another path",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_output_path(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


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
