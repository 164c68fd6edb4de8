"""Training on several processes with torchrun (DistributedDataParallel over gloo): every rank ends
with the same weights, the very weights one process computes from the same rows, and a
distributed run saves, loads, resumes exactly and stops cleanly on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY_FLAGS, run_script, tiny_run_config
from distributed_worker import EVAL_EVERY, MODEL, STEPS
from safetensors.torch import load_file

from pushkin_lm.core.device import usable_cores
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.train import distributed
from pushkin_lm.train.distributed import World
from pushkin_lm.train.trainer import Trainer

WORKER = Path(__file__).with_name("distributed_worker.py")
# torchrun on this machine, 2 processes, on a free port of its own
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TORCHRUN, *args], capture_output=True, text=True, cwd=ROOT, timeout=240, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory, trained_dir):
    """The worker on 2 processes: straight through, and stopped at the first evaluation."""
    root = tmp_path_factory.mktemp("ddp")
    data = trained_dir.parent / "verse.txt"
    for name, stop in (("straight", None), ("split", EVAL_EVERY)):
        extra = [] if stop is None else ["--stop_at", str(stop)]
        done = torchrun(str(WORKER), "--data", str(data), "--out", str(root / name), *extra)
        assert done.returncode == 0, done.stderr[-3000:]
    return root, data


def test_both_ranks_end_with_identical_weights_those_of_one_process_with_all_lanes(two_process_runs):
    root, data = two_process_runs
    rank0, rank1 = (load_file(root / "straight" / f"rank{rank}.safetensors") for rank in (0, 1))
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # One process reading all 8 rows takes the same steps: the ranks read disjoint halves of one
    # batch. Equal up to rounding, which Adam's first steps blow up to a whole step (lr) for the few
    # weights whose gradient is near zero: hence most weights, not all, and the same loss.
    cfg = tiny_run_config(data, root / "one", max_iters=STEPS, eval_interval=EVAL_EVERY, batch_size=8)
    one = Trainer(cfg, MODEL, log=lambda *_: None)
    val = one.run()["val_nats_per_char"]
    single = one.learner.model.state_dict()
    close = sum(torch.isclose(rank0[k], single[k], rtol=0, atol=1e-4).sum().item() for k in rank0)
    assert close / sum(t.numel() for t in rank0.values()) > 0.9  # 4 rows alone: about 2 %
    assert load_checkpoint(root / "straight").meta["val_nats_per_char"] == pytest.approx(val, abs=1e-3)


def test_a_distributed_run_saves_a_checkpoint_that_loads_and_generates(two_process_runs):
    root, _ = two_process_runs
    checkpoint = load_checkpoint(root / "straight")
    assert checkpoint.meta["step"] == STEPS and checkpoint.meta["processes"] == 2
    written = run_script(
        "generate", "--checkpoint", str(root / "straight"), "--max_tokens", "30", "--seed", "1"
    )
    assert written.returncode == 0, written.stderr
    assert len(written.stdout.strip()) >= 20


def test_a_resumed_distributed_run_continues_exactly(two_process_runs):
    root, _ = two_process_runs
    assert load_checkpoint(root / "split" / "last").meta["step"] == EVAL_EVERY
    resumed = torchrun("code/train.py", "--resume", str(root / "split"), "--no_progress")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at step {EVAL_EVERY}" in resumed.stdout and f"done: {STEPS} steps" in resumed.stdout
    assert resumed.stdout.count("done:") == 1  # rank 0 alone speaks
    threads = max(1, usable_cores() // 2)  # the cores shared out, not torchrun's OMP_NUM_THREADS=1
    assert f"on cpu x 2 processes, {threads} thread" in resumed.stdout
    straight = load_checkpoint(root / "straight" / "last").model.state_dict()
    again = load_checkpoint(root / "split" / "last").model.state_dict()
    assert all(torch.equal(straight[k], again[k]) for k in straight)


def test_resuming_on_another_number_of_processes_is_refused(two_process_runs):
    root, _ = two_process_runs
    alone = run_script("train", "--resume", str(root / "split"), "--no_progress")
    assert alone.returncode == 2
    assert "trained by 2 processes, not 1" in alone.stderr and "--nproc_per_node=2" in alone.stderr
    assert "Traceback" not in alone.stderr


def test_a_distributed_run_locks_its_folder_and_ctrl_c_saves_it_once(tmp_path, trained_dir):
    out = tmp_path / "run"
    flags = ["--data", str(trained_dir.parent / "verse.txt"), "--out", str(out), *TINY_FLAGS]
    training = subprocess.Popen(
        [*TORCHRUN, "code/train.py", *flags, "--max_iters", "100000", "--eval_interval", "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's Ctrl-C reaches
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not (out / "log.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    second = run_script("train", *flags, "--overwrite")  # rank 0 holds the folder's lock
    assert second.returncode == 2 and "is in use by another training run" in second.stderr
    os.killpg(training.pid, signal.SIGINT)  # what Ctrl-C does: every process of the group at once
    stdout, stderr = training.communicate(timeout=120)
    assert "stopped by SIGINT" in stderr and f"--resume {out}" in stderr
    saved = load_checkpoint(out / "last").meta["step"]
    assert saved >= 20 and f"step {saved:6d}" in stdout


@pytest.mark.parametrize(
    "environment, problem",
    [
        ({"RANK": "1", "WORLD_SIZE": "x"}, "WORLD_SIZE='x' is not a whole number"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "no possible"),
    ],
)
def test_a_garbled_torchrun_environment_is_named(monkeypatch, environment, problem):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PushkinLMError, match=problem):
        World.from_env()


def test_without_torchrun_the_world_is_one_process(monkeypatch):
    for name in ("WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RANK", "3")  # as some other launchers set: without WORLD_SIZE it is not torchrun
    world = World.from_env()
    assert (world.rank, world.size, world.distributed, world.is_main) == (0, 1, False, True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "meeting, problem",
    [
        ({}, "MASTER_ADDR and MASTER_PORT are not set; start with torchrun"),
        ({"MASTER_ADDR": "127.0.0.1"}, "MASTER_PORT is not set"),
        ({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "99999"}, "MASTER_PORT='99999' is not a port"),
        (
            {"MASTER_ADDR": "no-such-host.invalid", "MASTER_PORT": "29500"},
            "MASTER_ADDR='no-such-host.invalid' does",
        ),
    ],
)
def test_a_world_without_a_meeting_point_is_named_at_once(monkeypatch, meeting, problem):
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in meeting.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(PushkinLMError, match=problem.replace("(", r"\(")):
        World(rank=1, size=2, local_rank=1, local_size=2).start(torch.device("cpu"))


@pytest.mark.parametrize("rank, why", [(0, "waiting for clients"), (1, "timed out")])
def test_processes_that_never_meet_give_up_in_one_line(monkeypatch, capfd, rank, why):
    # Rank 0 waits for a rank 1 that never comes; rank 1 for a rank 0 that is not listening.
    monkeypatch.setattr(distributed, "JOIN_TIMEOUT_S", 1.0)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    with pytest.raises(PushkinLMError, match=f"could not meet the others at 127.0.0.1.*{why}") as err:
        World(rank=rank, size=2, local_rank=rank, local_size=2).start(torch.device("cpu"))
    assert "\n" not in str(err.value) and not torch.distributed.is_initialized()
    assert capfd.readouterr().err == ""  # the store client's retries, a dozen lines each, are not shown


@pytest.mark.parametrize("rank, lines", [("0", 1), ("1", 0)])
def test_under_torchrun_only_the_first_process_says_a_shared_error(tmp_path, rank, lines):
    world = {"TORCHELASTIC_RUN_ID": "test", "RANK": rank, "WORLD_SIZE": "2", "LOCAL_RANK": rank}
    env = {**os.environ, **world, "LOCAL_WORLD_SIZE": "2"}
    result = run_script(
        "train", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "run"), env=env
    )
    assert result.returncode == 2 and result.stderr.count("\n") == lines, result.stderr
