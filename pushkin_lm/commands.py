"""What each command does: its flags (most derived from the settings dataclasses) and its body.

Heavy modules (torch and everything on it) are imported inside the bodies, so `--help` is
instant and `generate` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import PushkinLMError
from .settings import add_flags, given

CHECKPOINT_HELP = (
    "checkpoint folder, a training run's --out folder, a Hugging Face Hub model owner/name, or a "
    "shipped model: pushkin-lm (the default) or base (Russian verse, not fine-tuned on Pushkin)"
)


def flag(parser: argparse._ActionsContainer, name: str, **kwargs) -> None:
    """Add `--name` with its hyphenated spelling, so `--max_tokens` and `--max-tokens` both work."""
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*spellings, dest=name, **kwargs)


# ----------------------------------------------------------------------------- train


def train_flags(p: argparse.ArgumentParser) -> None:
    from .model import ModelConfig
    from .recipe import PRESETS, TrainConfig

    flag(p, "resume", metavar="DIR", help="continue the run saved in DIR (its last/ checkpoint) exactly")
    flag(p, "overwrite", action="store_true", help="replace a run already in --out")
    flag(
        p,
        "preset",
        choices=sorted(PRESETS),
        help="named set of defaults that flags override: small (2 minutes, a smaller model), default "
        "(10 minutes), shipped (the shipped checkpoint's recipe: the base fine-tuned, about 20 minutes), "
        "pushkin-only (the previous shipped checkpoint's: a new network, about an hour on 2 CPU cores), "
        "finetune (learning rate 1e-4, short warmup; the default with --init_from, else default)",
    )
    add_flags(p.add_argument_group("training"), TrainConfig)
    add_flags(p.add_argument_group("model size"), ModelConfig)


def train(args: argparse.Namespace) -> None:
    from .model import ModelConfig
    from .recipe import TrainConfig, new_run
    from .train import Trainer

    settings = given(args, TrainConfig) | given(args, ModelConfig)
    if args.resume:
        if "out" in settings and Path(settings["out"]).resolve() != Path(args.resume).resolve():
            raise PushkinLMError(
                f"--resume {args.resume} continues that run in its own folder; drop --out {settings['out']}"
            )
        trainer = Trainer.resume(args.resume, settings)
    else:
        train_cfg, model_cfg = new_run(args.preset, settings)
        trainer = Trainer(train_cfg, model_cfg, overwrite=args.overwrite)
    trainer.run()
    if trainer.world.is_main:
        _draw_curves(trainer.out)


def _draw_curves(run: Path) -> None:
    """Every run ends with a picture of its curves; one that cannot be drawn is not an error."""
    from .plot import plot_training_curves
    from .tools import CURVES_PNG

    try:
        print(f"curves: {plot_training_curves(run, run / CURVES_PNG)}")
    except PushkinLMError as err:
        print(f"no curves drawn: {err}", file=sys.stderr)


# ----------------------------------------------------------------------------- generate


def generate_flags(p: argparse.ArgumentParser) -> None:
    from .forms import form_flags
    from .sample import SampleConfig

    flag(p, "checkpoint", help=CHECKPOINT_HELP)
    flag(p, "prompt", default="", help="text to continue (printed first)")
    flag(p, "prompt_file", help="read the prompt from this UTF-8 file (or /dev/stdin)")
    add_flags(p, SampleConfig)
    form_flags(p)
    flag(p, "num_samples", type=_positive_int, default=1, help="how many texts to write")
    flag(
        p,
        "precision",
        choices=("int8", "float32"),
        default="int8",
        help="weights while sampling: int8 is 2-3x faster, float32 is exactly the trained model",
    )


def generate(args: argparse.Namespace) -> None:
    from .forms import chosen_form, generate_form
    from .sample import SampleConfig

    settings = SampleConfig(**given(args, SampleConfig))
    form = chosen_form(args.form, args.meter)  # a bad --form or --meter fails before the model loads
    _check_stdout_encodes("пушкин")  # before the model loads, not after the first line of verse
    prompt = args.prompt
    if args.prompt_file:
        from .data import MAX_PROMPT_BYTES, read_text

        prompt = read_text(args.prompt_file, MAX_PROMPT_BYTES, "prompt")

    import torch

    from .decoder import Decoder
    from .sample import check_prompt, generate

    torch.set_num_threads(1)  # one character at a time is too small to share across threads
    decoder, vocab = Decoder.from_checkpoint(args.checkpoint, int8=args.precision == "int8")
    check_prompt(vocab, prompt)  # before the prompt is echoed
    out = sys.stdout
    for i in range(args.num_samples):
        if i:
            out.write("\n\n" + "-" * 40 + "\n\n")
        seed = None if settings.seed is None else (settings.seed + i) % 2**64
        out.write(prompt)
        config = SampleConfig(**{**vars(settings), "seed": seed})
        if form is None:  # free verse: the character stream, as always
            pieces = generate(decoder, vocab, prompt, config)
        else:  # a stanza, streamed line by line
            pieces = generate_form(decoder, vocab, prompt, config, *form)
        for piece in pieces:
            out.write(piece)
            out.flush()
        if form is None:
            out.write("\n")


def _check_stdout_encodes(sample: str) -> None:
    encoding = sys.stdout.encoding or "utf-8"
    try:
        sample.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        raise PushkinLMError(
            f"standard output cannot encode Cyrillic (its encoding is {encoding}); "
            "set PYTHONIOENCODING=utf-8 or a UTF-8 locale"
        ) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


_positive_int.__name__ = "whole number"


# ----------------------------------------------------------------------------- evaluate


def evaluate_flags(p: argparse.ArgumentParser) -> None:
    flag(p, "data", required=True, help="UTF-8 text file to score (or a folder holding test.txt/train.txt)")
    flag(p, "checkpoint", help=CHECKPOINT_HELP)
    flag(
        p,
        "split",
        choices=["all", "train", "val"],
        default="all",
        help="score the whole file, or only its first 90 %% (train) or last 10 %% (val), "
        "cut as training cuts it",
    )
    flag(p, "val_fraction", type=_fraction, default=0.1, help="the share that --split val scores")
    flag(p, "json", action="store_true", help="print one JSON object instead of text")


def evaluate(args: argparse.Namespace) -> None:
    import json

    from .checkpoint import load_checkpoint
    from .data import read_text, resolve_text_path, split_train_val
    from .evaluate import score_text

    path = resolve_text_path(args.data)
    text = read_text(path)
    if args.split != "all":
        train, val = split_train_val(text, args.val_fraction)
        text = train if args.split == "train" else val
    if len(text) < 2:
        part = "" if args.split == "all" else f"the {args.split} split of "
        raise PushkinLMError(
            f"{part}{path} has {len(text)} character{'s' * (len(text) != 1)}, and scoring needs at least 2; "
            + ("pass a longer file" if args.split == "all" else "pass a longer file or --split all")
        )
    ckpt = load_checkpoint(args.checkpoint)
    score = score_text(ckpt.model, ckpt.vocab, text, ckpt.temperature)
    if args.json:
        print(json.dumps(score.to_json()))
        return
    print(
        f"{path}{'' if args.split == 'all' else f' ({args.split} split)'}: "
        f"{score.nats_per_char:.4f} nats/char, {score.bits_per_char:.4f} bits/char "
        f"over {score.chars:,} characters ({score.unknown_chars} outside the vocabulary)"
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


_fraction.__name__ = "number"
