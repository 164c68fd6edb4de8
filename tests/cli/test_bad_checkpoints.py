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
from pathlib import Path

import pytest
import torch
from badinput import check_case, edit_config, edit_weights, truncate
from safetensors.torch import load_file, save_file

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.store.checkpoint import load_checkpoint


def set_tensors(ck: Path, **changes) -> None:
    """Replace tensors of ck's weights file by a function of the old one (None where there was
    none), or delete them (a change of None)."""
    weights = load_file(ck / "model.safetensors")
    for name, change in changes.items():
        weights[name] = change(weights.get(name)) if change else None
    save_file({k: v for k, v in weights.items() if v is not None}, ck / "model.safetensors")


def replace_in_config(ck: Path, old: str, new: str) -> None:
    """Edit config.json as text: for what json.dumps cannot write (a 5,000-digit number)."""
    text = (ck / "config.json").read_text()
    assert old in text
    (ck / "config.json").write_text(text.replace(old, new, 1))


TWO_TEMPERATURES = {"calibration_temperature": lambda t: torch.tensor([1.0, 2.0])}
DAMAGED = "; the checkpoint is damaged, use another one"

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
    "calibration temperature of two elements": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", **TWO_TEMPERATURES),
        "calibration_temperature has shape [2], the config needs a single number)" + DAMAGED,
    ),
    "calibration temperature of two elements (evaluate)": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", **TWO_TEMPERATURES),
        "calibration_temperature has shape [2]",
    ),
    "calibration temperature of two elements (--init_from)": (
        "train",
        ["--init_from", "CK", "--data", "W/verse.txt", "--out", "W/out"],
        lambda w: set_tensors(w / "ck", **TWO_TEMPERATURES),
        "calibration_temperature has shape [2]",
    ),
    "calibration temperature of two elements (push)": (
        "push",
        ["CK", "someone/model"],
        lambda w: set_tensors(w / "ck", **TWO_TEMPERATURES),
        "calibration_temperature has shape [2]",
    ),
    "calibration temperature of two elements (attention)": (
        "attention",
        ["--text", "луна", "--checkpoint", "CK", "--out", "W/a.png"],
        lambda w: set_tensors(w / "ck", **TWO_TEMPERATURES),
        "calibration_temperature has shape [2]",
    ),
    "infinite calibration temperature": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_weights(w / "ck", "calibration_temperature", math.inf),
        "NaN or infinite values in calibration_temperature" + DAMAGED,
    ),
    "negative calibration temperature": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: edit_weights(w / "ck", "calibration_temperature", -1.0),
        "calibration temperature of -1.0, which must be above 0" + DAMAGED,
    ),
    "integer weights": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", **{"head.bias": lambda t: t.to(torch.int64)}),
        "head.bias is a tensor of int64, where weights are float32, float16 or bfloat16" + DAMAGED,
    ),
    "float64 weights": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", **{"embed.weight": lambda t: t.double()}),
        "embed.weight is a tensor of float64",
    ),
    "boolean calibration temperature": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", calibration_temperature=lambda t: torch.tensor(True)),
        "calibration_temperature is a tensor of bool",
    ),
    "weights beyond any trained network's": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: edit_weights(w / "ck", "head.weight", 3e38),
        "head.weight holds a value of 3e+38, beyond any trained weight (65,504)" + DAMAGED,
    ),
    "an extra tensor": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", **{"spare.weight": lambda _: torch.zeros(3)}),
        "the weights do not match the model config (it holds an unexpected tensor spare.weight)" + DAMAGED,
    ),
    "a missing tensor": (
        "train",
        ["--init_from", "CK", "--data", "W/verse.txt", "--out", "W/out"],
        lambda w: set_tensors(w / "ck", **{"head.bias": None}),
        "the weights do not match the model config (it has no tensor head.bias)",
    ),
    "a tensor of another shape": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: set_tensors(w / "ck", **{"head.bias": lambda t: t[:-1]}),
        "(head.bias has shape [39], the config needs shape [40])",
    ),
    "vocabulary entries not a string": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["vocab"].update(chars=list(c["vocab"]["chars"]))),
        "config.json: vocabulary must be a JSON object with a 'chars' string" + DAMAGED,
    ),
    "vocabulary with a duplicate character": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["vocab"].update(chars=c["vocab"]["chars"][:-1] + "а")),
        "config.json: vocabulary has duplicate characters" + DAMAGED,
    ),
    "vocabulary with half a character": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(
            w / "ck", lambda c: c["vocab"].update(chars=c["vocab"]["chars"][:-1] + "\ud800")
        ),
        "the vocabulary holds a lone surrogate '\\ud800', not a character" + DAMAGED,
    ),
    "config size a boolean": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(num_layers=True)),
        "config.json: model setting num_layers must be int, got True" + DAMAGED,
    ),
    "config size a fraction": (
        "train",
        ["--init_from", "CK", "--data", "W/verse.txt", "--out", "W/out"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(hidden_size=32.5)),
        "config.json: model setting hidden_size must be int, got 32.5" + DAMAGED,
    ),
    "config size of 5,000 digits": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: replace_in_config(w / "ck", '"hidden_size": 32', '"hidden_size": ' + "9" * 5000),
        "config.json holds a number of over 4,300 digits, which no setting has" + DAMAGED,
    ),
    "config dropout NaN": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: replace_in_config(w / "ck", '"dropout": 0.0', '"dropout": NaN'),
        "model setting dropout must be a finite number, got nan" + DAMAGED,
    ),
    "config with an unknown setting": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(depth=3)),
        "model config must be a JSON object with keys among",
    ),
    "format version a boolean": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c.update(format_version=True)),
        "has a bad format_version True" + DAMAGED,
    ),
    "meta not an object": (
        "generate",
        ["--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c.update(meta=[1, 2])),
        "config.json: meta must be a JSON object, got [1, 2]" + DAMAGED,
    ),
    "meta step a string": (
        "push",
        ["CK", "someone/model"],
        lambda w: edit_config(w / "ck", lambda c: c["meta"].update(step="many")),
        "meta field step must be a whole number of 0 or more, got 'many'" + DAMAGED,
    ),
    "meta loss a string": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK"],
        lambda w: edit_config(w / "ck", lambda c: c["meta"].update(val_nats_per_char="low")),
        "meta field val_nats_per_char must be a finite number of 0 or more, got 'low'",
    ),
    "meta temperature zero": (
        "push",
        ["CK", "someone/model"],
        lambda w: edit_config(w / "ck", lambda c: c["meta"].update(temperature=0)),
        "meta field temperature must be a finite number above 0, got 0",
    ),
    "meta training settings not an object": (
        "train",
        ["--init_from", "CK", "--data", "W/verse.txt", "--out", "W/out"],
        lambda w: edit_config(w / "ck", lambda c: c["meta"].update(train_config="fast")),
        "meta field train_config must be a JSON object, got 'fast'",
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
    "load_checkpoint with a two-element temperature": lambda w: (
        set_tensors(w / "ck", **TWO_TEMPERATURES) or load_checkpoint(w / "ck")
    ),
}


@pytest.mark.parametrize("case", API_CASES)
def test_bad_checkpoint_through_the_python_api(case, workspace):
    with pytest.raises(PushkinLMError) as raised:
        API_CASES[case](workspace)
    assert "\n" not in str(raised.value)
