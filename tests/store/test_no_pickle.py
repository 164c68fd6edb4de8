"""A pickle planted where weights should be is never unpickled, through any entry point (that no
code calls torch.load or pickle, tests/test_architecture.py checks)."""

import os
import pickle
import shutil

import pytest
from conftest import run_script

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.store.checkpoint import load_checkpoint


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def poisoned(trained_dir, tmp_path):
    """A copy of a real run whose weight and trainer-state files are pickles that create `marker`."""
    run = tmp_path / "run"
    shutil.copytree(trained_dir, run)
    marker = tmp_path / "pwned"
    for folder in ("best", "last"):
        for name in ("model.safetensors", "trainer.safetensors"):
            if (run / folder / name).exists():
                (run / folder / name).write_bytes(pickle.dumps(Payload(marker)))
    return run, marker


def test_api_load_refuses_the_pickle(poisoned):
    run, marker = poisoned
    with pytest.raises(PushkinLMError, match="not a valid safetensors"):
        load_checkpoint(run)
    assert not marker.exists()


@pytest.mark.parametrize(
    "command, args",
    [("generate", ["--max_tokens", "5"]), ("evaluate", ["--data", "VERSE"]), ("train", ["--resume"])],
)
def test_commands_refuse_the_pickle(poisoned, verse_file, command, args):
    run, marker = poisoned
    args = [str(verse_file) if a == "VERSE" else a for a in args]
    flag = [] if command == "train" else ["--checkpoint"]
    result = run_script(command, *args, *flag, str(run))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "safetensors" in result.stderr
    assert not marker.exists()
