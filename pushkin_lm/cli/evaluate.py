"""`pushkin-lm evaluate`: score a text with a model, in nats and bits per character."""

from __future__ import annotations

import argparse
import json

from pushkin_lm.cli.common import checkpoint_flag
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import read_text
from pushkin_lm.core.settings import add_flag, number

DESCRIPTION = "Score a text file with a model: nats and bits per character over the whole file."
DEFAULT_VAL_FRACTION = 0.1  # training's own (TrainConfig.val_fraction), so --split val is its split


def flags(p: argparse.ArgumentParser) -> None:
    add_flag(
        p, "data", required=True, help="UTF-8 text file to score (or a folder holding test.txt/train.txt)"
    )
    checkpoint_flag(p)
    add_flag(
        p,
        "split",
        choices=["all", "train", "val"],
        default="all",
        help="score the whole file, or only its first 90 %% (train) or last 10 %% (val), "
        "cut as training cuts it",
    )
    add_flag(
        p,
        "val_fraction",
        type=number(above=0, below=1),
        default=DEFAULT_VAL_FRACTION,
        help="the share that --split val scores",
    )
    add_flag(p, "json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> None:
    from pushkin_lm.data.corpus import resolve_text_path, split_train_val
    from pushkin_lm.model.scorer import score_text
    from pushkin_lm.store.checkpoint import load_checkpoint

    path = resolve_text_path(args.data)
    text = whole = read_text(path)
    if args.split != "all":
        train, val = split_train_val(text, args.val_fraction)
        text = train if args.split == "train" else val
    if len(text) < 2:
        part = "" if args.split == "all" else f"the {args.split} split of "
        raise PushkinLMError(
            f"{part}{path} has {len(text)} character{'s' * (len(text) != 1)}, and scoring needs at least 2; "
            + _fix(args, len(whole))
        )
    ckpt = load_checkpoint(args.checkpoint)
    score = score_text(ckpt.model, ckpt.vocab, text, ckpt.temperature)
    if args.json:
        print(json.dumps(score.to_json()))
        return
    print(
        f"{path}{'' if args.split == 'all' else f' ({args.split} split)'}: "
        f"{score.nats_per_char:.4f} nats/char, {score.bits_per_char:.4f} bits/char "
        f"over {score.chars:,} character{'s' * (score.chars != 1)} "
        f"({score.unknown_chars} outside the vocabulary)"
    )


def _fix(args: argparse.Namespace, chars: int) -> str:
    """What gives the split its 2 characters: the file, or --val_fraction where it is the cause (the
    default share of this file would have them)."""
    from pushkin_lm.data.corpus import split_train_val

    if args.split == "all":
        return "pass a longer file"
    default = split_train_val(range(chars), DEFAULT_VAL_FRACTION)[args.split == "val"]
    if args.val_fraction != DEFAULT_VAL_FRACTION and len(default) >= 2:
        way = "lower" if args.split == "train" else "raise"
        fraction = f"--val_fraction {args.val_fraction:g}"
        return f"{fraction} leaves it too few; {way} --val_fraction, or pass --split all"
    return "pass a longer file or --split all"
