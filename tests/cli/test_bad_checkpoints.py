"""Bad checkpoints (docs/errors.md): a --checkpoint or --init_from folder that is missing, empty,
a file, another program's, or whose weights or config.json are damaged, absurd or disagree.

A user meets these after a crash, a partial download or a hand edit, so each must be one line on
stderr that names the problem and the fix, exit status 2, no traceback, and the damaged folder
and everything else in the workspace left byte for byte as it was (`badinput.check_case`): a bad
checkpoint is never "repaired" by overwriting it. The Python API raises `PushkinLMError` with a
one-line message instead.
"""

import math
import pickle

import pytest
from badinput import check_case, edit_config, edit_weights, truncate

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.store.checkpoint import load_checkpoint

CASES = {
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
}


@pytest.mark.parametrize("case", CASES)
def test_bad_checkpoint(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


API_CASES = {
    "load_checkpoint of a missing folder": lambda w: load_checkpoint(w / "nowhere"),
    "vocabulary JSON without chars": lambda w: CharVocab.from_json({"letters": "abc"}),
}


@pytest.mark.parametrize("case", API_CASES)
def test_bad_checkpoint_through_the_python_api(case, workspace):
    with pytest.raises(PushkinLMError) as raised:
        API_CASES[case](workspace)
    assert "\n" not in str(raised.value)
