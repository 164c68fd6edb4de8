"""A really full disk: training on a tiny tmpfs stops with a clear error, the last good checkpoint intact."""

import subprocess
from pathlib import Path

import pytest
from conftest import TINY_FLAGS, run_script

from pushkin_lm.store.checkpoint import load_checkpoint


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture
def tiny_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()

    def mount(size: int) -> Path:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], capture_output=True
        )
        if result.returncode != 0:
            pytest.skip("mounting a tmpfs needs root and a kernel that allows it")
        return mount_point

    yield mount
    subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_training_onto_a_full_disk_keeps_the_previous_checkpoint(tmp_path, verse_file, tiny_disk):
    args = ["--data", str(verse_file), "--eval_interval", "1", *TINY_FLAGS]
    sizing = run_script("train", *args, "--out", str(tmp_path / "sizing"), "--max_iters", "1")
    assert sizing.returncode == 0, sizing.stderr
    one_save = folder_bytes(tmp_path / "sizing")
    # Room for one best + last pair and a little more: a later save, which writes the new folder
    # before deleting the old, runs out of space.
    disk = tiny_disk(one_save + folder_bytes(tmp_path / "sizing" / "last") // 2 + 8192)

    result = run_script("train", *args, "--out", str(disk / "run"), "--max_iters", "50")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr and "intact" in result.stderr
    last = load_checkpoint(disk / "run" / "last")  # the previous checkpoint still loads
    assert 1 <= last.meta["step"] < 50
    assert load_checkpoint(disk / "run").meta["step"] >= 1  # and so does best
