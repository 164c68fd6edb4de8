"""Bad flags (docs/errors.md): values out of range, not numbers, not finite, absurdly large for
the memory or the machine, unknown choices and misspelt or missing options.

A mistyped flag must stop a command before it loads a model or starts a run: one line on stderr
that names the flag (in both its spellings, --top_p/--top-p) and the values it takes, exit status
2, no traceback, and the workspace byte for byte as it was (`badinput.check_case`). The settings
objects of the Python API refuse the same values with a one-line `PushkinLMError`. Extreme values
that do have a meaning (a temperature of 1e39) are used, not refused.
"""

import os

import pytest
import torch
from badinput import check_case, edit_config
from conftest import run_script

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.train.recipe import TrainConfig

CASES = {
    # generate
    "max_tokens negative": ("generate", ["--checkpoint", "CK", "--max_tokens", "-5"], None, "0 or more"),
    "max_tokens non-numeric": ("generate", ["--checkpoint", "CK", "--max-tokens", "ten"], None, "invalid"),
    "temperature below 0": (
        "generate",
        ["--checkpoint", "CK", "--temperature", "-1"],
        None,
        "--temperature: must be a number of 0 or more",
    ),
    "temperature non-numeric": ("generate", ["--checkpoint", "CK", "--temperature", "hot"], None, "invalid"),
    "temperature infinite": ("generate", ["--checkpoint", "CK", "--temperature", "inf"], None, "finite"),
    "temperature NaN": ("generate", ["--checkpoint", "CK", "--temperature", "nan"], None, "finite"),
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
    "seed beyond 64 bits (generate)": (
        "generate",
        ["--checkpoint", "CK", "--seed", str(2**64)],
        None,
        "from 0 to 2**64 - 1",
    ),
    "unknown option (generate)": ("generate", ["--frobnicate"], None, "unrecognized arguments"),
    # evaluate
    "evaluate without --data": ("evaluate", ["--checkpoint", "CK"], None, "required: --data"),
    # train
    "unknown option (train)": ("train", ["--hidden", "--out", "W/out"], None, "unrecognized arguments"),
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
    "learning rate overflowing": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--learning_rate", "1e400"],
        None,
        "finite",
    ),
    "weight decay NaN": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--weight_decay", "nan"],
        None,
        "--weight_decay/--weight-decay: must be a finite number, got nan",
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
    "seed negative (train)": (
        "train",
        ["--data", "W/verse.txt", "--seed", "-1"],
        None,
        "from 0 to 2**64 - 1",
    ),
    "hidden size absurd": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--hidden_size", "10000000"],
        None,
        "would need about",
    ),
    "attention window absurd": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--attn_window", "1000000000000"],
        None,
        "--attn_window",
    ),
    "batch absurd": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--batch_size", "1000000000", "--block_size", "8"],
        None,
        "would need about",
    ),
    # A heat-map per head, length x length: 4,000 characters would be billions of pixels (bad_alloc).
    "attention text beyond the picture": (
        "attention",
        ["--text", "луна " * 800, "--checkpoint", "CK", "--out", "W/a.png"],
        lambda w: edit_config(w / "ck", lambda c: c["model"].update(attn_window=5000)),
        "the text has 4,000 characters, but a picture of this model's 2 heads holds at most 425 (about 40 "
        "million pixels); give --text of at most 425 characters",
    ),
    "threads beyond the cores": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--threads", "1000"],
        None,
        "CPU cores",
    ),
    # a stanza prompt that already fills the stanza: refused before it is echoed to stdout
    "stanza prompt too long": (
        "generate",
        ["--checkpoint", "CK", "--form", "abab", "--prompt", "а\nа\nа\nа\n"],
        None,
        "the prompt already has 4 lines, and the abab stanza has 4; give a shorter prompt",
    ),
}
# An empty value is never what was meant: `--checkpoint ''` would read the current folder, `--png ''`
# draw the default picture, `--resume ''` start a new run. (`--prompt ''` is a prompt: nothing.)
EMPTY = {
    "generate": [["--checkpoint", ""], ["--meter", "", "--form", "abab"], ["--prompt_file", ""]],
    "evaluate": [["--data", ""], ["--data", "W/verse.txt", "--checkpoint", ""]],
    "train": [["--init_from", "", "--data", "W/verse.txt"], ["--resume", ""], ["--data", "W/verse.txt", ""]],
    "plot": [[""], ["RUN", "--png", ""], ["RUN", "--title", ""]],
    "push": [["", "someone/model"], ["CK", ""], ["CK", "someone/model", "--commit_message", ""]]
    + [["CK", "someone/model", "--token", ""]],
    "attention": [
        ["--text", "луна", "--checkpoint", "CK", "--out", ""],
        ["--text", "", "--checkpoint", "CK"],
    ],
    "scan": [[""], ["--text", ""]],
    "demo": [["--host", ""]],
}
for command, argvs in EMPTY.items():
    for argv in argvs:
        before = argv[argv.index("") - 1] if argv.index("") else ""
        flag = before if before.startswith("--") else f"argument {argv.index('') + 1}"
        CASES[f"{command} {flag} empty"] = (command, argv, None, "is empty; give ")
# Bytes that are not UTF-8 (Python reads them as lone surrogates) would be written back out:
# `scan --json` would print JSON that no parser reads.
CASES |= {
    "--text not UTF-8 (scan)": (
        "scan",
        ["--json", "--text", os.fsdecode(b"\xd0\x9c\xd0\xbe\xd0\xb9 \xff")],
        None,
        "--text Мой \\xff is not UTF-8 (byte 0xff), the encoding pushkin-lm prints and records in; "
        "give it in UTF-8",
    ),
    "--prompt not UTF-8": (
        "generate",
        ["--checkpoint", "CK", "--prompt", os.fsdecode(b"\xe9t\xe9")],
        None,
        "--prompt \\xe9t\\xe9 is not UTF-8 (byte 0xe9)",
    ),
    "--data path not UTF-8 (evaluate)": (
        "evaluate",
        ["--checkpoint", "CK", "--data", os.fsdecode(b"caf\xe9.txt")],
        None,
        "--data caf\\xe9.txt is not UTF-8 (byte 0xe9), the encoding pushkin-lm prints and records in; "
        "rename it",
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
def test_bad_flag(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


API_CASES = {
    "model config with zero width": lambda w: ModelConfig(vocab_size=10, hidden_size=0),
    "sampling with top_p above 1": lambda w: SampleConfig(top_p=2.0),
    "training config with zero batch": lambda w: TrainConfig(batch_size=0),
}


@pytest.mark.parametrize("case", API_CASES)
def test_bad_setting_through_the_python_api(case, workspace):
    with pytest.raises(PushkinLMError) as raised:
        API_CASES[case](workspace)
    assert "\n" not in str(raised.value)


def test_generate_with_huge_temperature_writes_verse_not_a_masked_character(workspace):
    result = run_script(
        "generate",
        "--checkpoint",
        str(workspace / "ck"),
        "--temperature",
        "1e39",
        "--max_tokens",
        "200",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert len(set(result.stdout)) > 10  # uniform over the vocabulary, not one character repeated
