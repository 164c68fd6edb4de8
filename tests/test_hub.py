"""The download path, exercised offline: huggingface_hub reads a cache laid out as the Hub does."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, make_verse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fill_hub_cache(cache: Path, text: str) -> None:
    repo = cache / "datasets--abobster--pushkin_new"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "train.txt").write_text(text, encoding="utf-8")


def run_offline(code: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PUSHKIN_LM_DATA_DIR": str(cache)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_download_reads_the_cached_dataset_file(tmp_path):
    fill_hub_cache(tmp_path, make_verse())
    result = run_offline("from pushkin_lm.hub import download_corpus; print(download_corpus())", tmp_path)
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.name == "train.txt" and path.read_text(encoding="utf-8") == make_verse()


def test_training_without_data_flag_uses_the_hub_copy(tmp_path):
    fill_hub_cache(tmp_path / "cache", make_verse())
    result = run_offline(
        "from pushkin_lm.cli import train_main; raise SystemExit(train_main(["
        f"'--out', {str(tmp_path / 'run')!r}, '--max_iters', '3', '--hidden_size', '16', '--embed_dim', '8',"
        "'--num_heads', '2', '--block_size', '16', '--batch_size', '2', '--no_progress']))",
        tmp_path / "cache",
    )
    assert result.returncode == 0, result.stderr
    assert "datasets--abobster--pushkin_new" in result.stdout
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


def test_no_network_and_no_cache_says_to_pass_data(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PUSHKIN_LM_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "code" / "train.py"), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no network and no cached copy" in result.stderr and "--data PATH" in result.stderr
