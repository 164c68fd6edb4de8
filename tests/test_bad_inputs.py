"""The bad-input matrix (docs/errors.md), first round: checkpoints, data files and flags. Each
case is one line on stderr naming the problem and the fix, exit status 2, no traceback, and
nothing already saved is touched (`badinput.check_case`)."""

import pickle

import pytest
import torch
from badinput import check_case, edit_config, truncate

from pushkin_lm.checkpoint import load_checkpoint
from pushkin_lm.errors import PushkinLMError
from pushkin_lm.model import ModelConfig
from pushkin_lm.recipe import TrainConfig
from pushkin_lm.sample import SampleConfig
from pushkin_lm.vocab import CharVocab

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
}
if not torch.cuda.is_available():  # CI's machine: asking for a GPU must fail clearly, not fall back
    CASES["device cuda without a GPU"] = (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--device", "cuda", "--max_iters", "1"],
        None,
        "torch sees no CUDA GPU",
    )


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


API_CASES = {
    "load_checkpoint of a missing folder": lambda w: load_checkpoint(w / "nowhere"),
    "vocabulary JSON without chars": lambda w: CharVocab.from_json({"letters": "abc"}),
    "model config with zero width": lambda w: ModelConfig(vocab_size=10, hidden_size=0),
    "sampling with top_p above 1": lambda w: SampleConfig(top_p=2.0),
    "training config with zero batch": lambda w: TrainConfig(batch_size=0),
}


@pytest.mark.parametrize("case", API_CASES)
def test_bad_input_through_the_python_api(case, workspace):
    with pytest.raises(PushkinLMError) as raised:
        API_CASES[case](workspace)
    assert "\n" not in str(raised.value)
