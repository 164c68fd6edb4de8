"""SIGKILL at random moments, checkpoint writes included: what is on disk always loads and resumes."""

import random
import signal
import subprocess
import sys
import time

from conftest import ROOT, TINY_FLAGS

from pushkin_lm.store.checkpoint import load_checkpoint

TRIALS = 10
MAX_TRIALS = 60  # a loaded machine spends less of its time in writes: keep killing until one lands there
TINY = [*TINY_FLAGS, "--threads", "1"]


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "code" / "train.py"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_sigkill_never_leaves_an_unloadable_or_unresumable_checkpoint(tmp_path, verse_file):
    out = tmp_path / "run"
    # Evaluating and saving every step keeps checkpoint writes in flight most of the time.
    first = start(
        ["--data", str(verse_file), "--out", str(out), "--max_iters", "100000", "--eval_interval", "1", *TINY]
    )
    deadline = time.monotonic() + 120
    while not (out / "last").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill()
    first.wait()

    rng = random.Random(0)
    log = out / "log.jsonl"
    steps, mid_write = [], 0
    for trial in range(MAX_TRIALS):
        if trial >= TRIALS and mid_write:
            break
        # A half-written folder, or an old one set aside, shows the kill hit a checkpoint write.
        mid_write += any(out.glob(".*.tmp")) or any(out.glob(".*.old"))
        last = load_checkpoint(out / "last")  # must load, whatever moment the kill hit
        steps.append(last.meta["step"])
        lines = log.read_text().count("\n") if log.exists() else 0
        proc = start(["--resume", str(out), "--max_iters", "100000"])
        deadline = time.monotonic() + 120
        while (log.read_text().count("\n") if log.exists() else 0) <= lines and time.monotonic() < deadline:
            time.sleep(0.01)  # wait until the resumed run is training (and saving every step)
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()

    mid_write += any(out.glob(".*.tmp")) or any(out.glob(".*.old"))  # the last kill too
    final = start(["--resume", str(out), "--max_iters", str(load_checkpoint(out / "last").meta["step"] + 2)])
    assert final.wait(timeout=120) == 0, final.stderr.read()
    assert steps == sorted(steps) and steps[-1] > steps[0]  # progress survives the kills
    assert not list(out.glob(".*.tmp"))  # stale half-written folders are cleaned up
    assert mid_write >= 1, "no kill landed during a checkpoint write"
