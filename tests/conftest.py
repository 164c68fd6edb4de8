"""Shared fixtures: tiny made-up verse, tiny models and a tiny trained checkpoint."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.network import Network
from pushkin_lm.train.recipe import TrainConfig
from pushkin_lm.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
WORDS = "луна мороз ветер тихо поле зима сердце ночь море песня сад звезда река огонь".split()


def make_verse(seed: int = 0, poems: int = 12) -> str:
    """Made-up rhymeless Cyrillic verse in the corpus's layout: poems separated by </s> lines."""
    rng = random.Random(seed)
    out = []
    for _ in range(poems):
        lines = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 5))).capitalize() + ","
            for _ in range(rng.randint(4, 8))
        ]
        out.append("\n".join(lines) + "\n\n</s>\n\n")
    return "".join(out)


TINY_MODEL = {
    "embed_dim": 16,
    "hidden_size": 32,
    "num_layers": 1,
    "num_heads": 2,
    "attn_window": 12,
    "ffn_mult": 2,
    "dropout": 0.0,
}


# The same tiny model on the command line: flags for `code/train.py`.
TINY_FLAGS = (
    "--hidden_size 32 --embed_dim 16 --num_heads 2 --block_size 16 --batch_size 4 --no_progress".split()
)


@pytest.fixture
def verse() -> str:
    return make_verse()


@pytest.fixture
def verse_file(tmp_path: Path) -> Path:
    path = tmp_path / "verse.txt"
    path.write_text(make_verse(), encoding="utf-8")
    return path


@pytest.fixture
def tiny_model() -> tuple[Network, CharVocab]:
    torch.manual_seed(0)
    vocab = CharVocab.build(make_verse())
    model = Network(ModelConfig(vocab_size=len(vocab), **TINY_MODEL)).eval()
    return model, vocab


def tiny_run_config(data: Path | list[str], out: Path, **overrides) -> TrainConfig:
    """Training settings for a tiny run of a fixed number of steps, no time budget, no progress bar."""
    settings = {
        "max_iters": 30,
        "max_minutes": None,
        "batch_size": 4,
        "block_size": 16,
        "eval_interval": 10,
        "warmup_iters": 5,
        "progress": False,
    }
    data = data if isinstance(data, list) else str(data)
    return TrainConfig(data=data, out=str(out), **{**settings, **overrides})


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training run's --out folder: a tiny model trained for 60 steps on made-up verse."""
    root = tmp_path_factory.mktemp("trained")
    data = root / "verse.txt"
    data.write_text(make_verse(), encoding="utf-8")
    cfg = tiny_run_config(data, root / "run", max_iters=60, batch_size=8, block_size=32, eval_interval=30)
    train(cfg, ModelConfig(**TINY_MODEL), log=lambda *_: None)
    return root / "run"


@pytest.fixture
def workspace(tmp_path, trained_dir, verse_file):
    """A folder with made-up verse (verse.txt), a copy of a training run (run) and of its best
    checkpoint (ck), for tests that damage or refuse things."""
    assert verse_file == tmp_path / "verse.txt"
    shutil.copytree(trained_dir, tmp_path / "run")
    shutil.copytree(trained_dir / "best", tmp_path / "ck")
    threads = torch.get_num_threads()
    yield tmp_path
    torch.set_num_threads(threads)  # generate pins one thread for the process


def run_script(
    name: str, *args: str, env: dict | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Run `python code/<name>.py ARGS` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, str(ROOT / "code" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
