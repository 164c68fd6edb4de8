"""Command-line entry points: train, generate, evaluate.

Each parses its flags with argparse, calls the library, and turns a `PushkinLMError` into one
line on stderr and exit status 2. Heavy modules are imported inside the commands, so
`generate` starts fast and `--help` is instant.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import PushkinLMError, TrainingInterrupted

PRESETS = {
    # A couple of minutes on 2 CPU cores: for trying things out and for tests.
    "small": {"hidden_size": 256, "num_layers": 1, "embed_dim": 64, "max_minutes": 2.0, "eval_interval": 100},
    "default": {},
    # The recipe of the shipped checkpoint: about an hour on 2 CPU cores. The schedule counts
    # steps, so a slower machine trains the same model, only later (docs/results.md).
    "shipped": {"embed_dropout": 0.1, "max_iters": 8000, "max_minutes": 150.0, "eval_interval": 500},
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage dump) and exit status 2."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_abbrev=False, **kwargs)  # a typo is an error, never a guess

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default only where it has a real one (not None or False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    """Add `--name` with its hyphenated spelling, so `--max_tokens` and `--max-tokens` both work.

    A yes/no flag gets `--name`, `--no-name` and `--no_name` (argparse itself makes only the first two).
    """
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    if kwargs.get("action") is argparse.BooleanOptionalAction:
        kwargs["action"] = _YesNo
    parser.add_argument(*spellings, dest=name, **kwargs)


class _YesNo(argparse.BooleanOptionalAction):
    """`--x` / `--no-x` / `--no_x`."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, **kwargs)
        underscored = [f"--no_{o[2:]}" for o in option_strings if o.startswith("--") and "-" not in o[2:]]
        self.option_strings = [*self.option_strings, *underscored]

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        setattr(namespace, self.dest, not (option_string or "").startswith("--no"))


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of {_at_least(minimum)}, got {text}")
        return value

    parse.__name__ = "whole number"  # argparse names the type in its "invalid ..." message
    return parse


def _at_least(minimum: int) -> str:
    return "0 or more" if minimum == 0 else f"at least {minimum}"


def _finite_float(text: str) -> float:
    """An argparse type: a finite number (NaN and infinity would poison every later step)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 2**64 - 1:  # what torch's generators accept
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**64 - 1, got {text}")
    return value


_finite_float.__name__ = _positive_float.__name__ = "number"
_seed.__name__ = "seed"
_positive_int, _non_negative_int = _whole_number(1), _whole_number(0)


def _run(
    command: Callable[[argparse.Namespace], None], parser: ArgumentParser, argv: Sequence[str] | None
) -> int:
    args = parser.parse_args(argv)
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): print() would drop everything
            raise PushkinLMError("standard output is closed; send it to a file or a terminal")
        command(args)
        sys.stdout.flush()
    except TrainingInterrupted as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 130
    except PushkinLMError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `| head`: the reader has gone, which is fine
        _discard_stdout()
        return 0
    except UnicodeEncodeError:
        print(
            f"{parser.prog}: error: standard output cannot encode this text (its encoding is "
            f"{sys.stdout.encoding}); set PYTHONIOENCODING=utf-8 or a UTF-8 locale",
            file=sys.stderr,
        )
        return 2
    except OSError as err:  # every file the library writes raises PushkinLMError: this is stdout
        _discard_stdout()
        print(f"{parser.prog}: error: cannot write the output: {err.strerror or err}", file=sys.stderr)
        return 2
    return 0


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor behind stdout
        pass


def train_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="pushkin-lm-train",
        description="Train the LSTM + attention character model. Defaults train on the Pushkin "
        "corpus (downloaded from the Hugging Face Hub) for 10 minutes, on a CUDA GPU where torch "
        "sees one, else on the CPU.",
        formatter_class=HelpFormatter,
    )
    _flag(
        p, "data", help="text file, or folder holding train.txt (default: Hub dataset abobster/pushkin_new)"
    )
    _flag(p, "out", help="run folder for checkpoints (best/, last/) and log.jsonl (default: out)")
    _flag(p, "overwrite", action="store_true", help="replace a checkpoint already in --out")
    _flag(p, "resume", metavar="DIR", help="continue the run saved in DIR (its last/ checkpoint) exactly")
    _flag(
        p,
        "preset",
        choices=sorted(PRESETS),
        default="default",
        help="named set of defaults that flags override: small (2 minutes, a smaller model), default "
        "(10 minutes), shipped (the shipped checkpoint's recipe, about an hour on 2 CPU cores)",
    )
    _flag(p, "max_iters", type=_positive_int, help="stop after this many steps")
    _flag(p, "max_minutes", type=_positive_float, help="stop after this much wall-clock time (default 10)")
    _flag(p, "seed", type=_seed, help="random seed for initialisation and batches")
    _flag(p, "threads", type=_positive_int, help="CPU threads for torch (default: torch's choice)")
    _flag(
        p,
        "device",
        choices=["auto", "cpu", "cuda"],
        help="where to train (default auto: a CUDA GPU where torch sees one, else the CPU)",
    )
    _flag(p, "no_progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("optimisation")
    _flag(g, "batch_size", type=_positive_int)
    _flag(g, "block_size", type=_positive_int, help="characters per training window")
    _flag(g, "learning_rate", type=_positive_float)
    _flag(g, "min_lr", type=_finite_float)
    _flag(g, "warmup_iters", type=_non_negative_int)
    _flag(g, "weight_decay", type=_finite_float)
    _flag(g, "grad_clip", type=_positive_float)
    _flag(
        g,
        "ema_decay",
        type=_finite_float,
        help="evaluate and save a moving average of the weights, about 1/(1 - decay) steps long; 0 = off",
    )
    _flag(g, "eval_interval", type=_positive_int, help="steps between validation runs")
    _flag(g, "val_fraction", type=_finite_float, help="share of the text, at its end, that validates")
    _flag(
        g,
        "calib_fraction",
        type=_finite_float,
        help="share of the training split, at its end, held out to fit the output temperature; 0 = none",
    )
    _flag(
        g,
        "bf16",
        action=argparse.BooleanOptionalAction,
        help="bfloat16 autocast for training steps (default: on where the CPU has native bf16)",
    )
    _flag(
        g,
        "stateful",
        action=argparse.BooleanOptionalAction,
        help="carry LSTM state and attention cache across consecutive windows (truncated BPTT); "
        "--no-stateful samples random windows (default: stateful)",
    )
    m = p.add_argument_group("model size")
    _flag(m, "embed_dim", type=_positive_int)
    _flag(m, "hidden_size", type=_positive_int)
    _flag(m, "num_layers", type=_positive_int)
    _flag(m, "num_heads", type=_positive_int)
    _flag(m, "attn_window", type=_positive_int, help="characters attention looks back over")
    _flag(
        m, "ffn_mult", type=_non_negative_int, help="feed-forward width after attention, x hidden; 0 = none"
    )
    _flag(
        m,
        "dropout",
        type=_finite_float,
        help="variational dropout: LSTM inputs and outputs, residual branches",
    )
    _flag(m, "weight_drop", type=_finite_float, help="DropConnect on the LSTM's recurrent weights")
    _flag(
        m,
        "embed_dropout",
        type=_finite_float,
        help="drop whole characters of the vocabulary from a batch's input",
    )
    _flag(m, "no_attention", action="store_true", help="a plain LSTM (no attention block)")
    _flag(
        m,
        "no_shift_keys",
        action="store_true",
        help="attention finds each value by its own position's key, not the previous one's",
    )
    return p


def _train(args: argparse.Namespace) -> None:
    from dataclasses import fields, replace

    from .model import ModelConfig
    from .train import TrainConfig, Trainer, saved_run

    given = {k: v for k, v in vars(args).items() if v is not None and k != "out"}
    if args.no_attention:
        given["attention"] = False
    if args.no_shift_keys:
        given["shift_keys"] = False
    model_names = [f.name for f in fields(ModelConfig) if f.name != "vocab_size"]
    train_names = [f.name for f in fields(TrainConfig)]
    if args.resume:
        if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
            raise PushkinLMError(
                f"--resume {args.resume} continues that run in its own folder; drop --out {args.out}"
            )
        # The saved run's settings stand; only settings that do not change a step may be given anew.
        cfg, model_settings = saved_run(args.resume)
        changed = [
            k
            for k in train_names
            if k in given and k not in TrainConfig.RESUMABLE and given[k] != getattr(cfg, k)
        ]
        if changed:
            raise PushkinLMError(
                f"--{changed[0]} cannot change when resuming; drop it, or start a new run with --overwrite"
            )
        model_settings.update({k: given[k] for k in model_names if k in given})
        updates = {k: given[k] for k in TrainConfig.RESUMABLE if k in given}
        cfg = replace(cfg, **updates, out_dir=args.resume, progress=not args.no_progress)
    else:
        chosen = {**PRESETS[args.preset], **given}
        model_settings = {k: chosen[k] for k in model_names if k in chosen}
        train_settings = {k: chosen[k] for k in train_names if k in chosen}
        out = {"out_dir": args.out} if args.out else {}
        cfg = TrainConfig(**train_settings, **out, progress=not args.no_progress)
    Trainer(cfg, model_settings, overwrite=args.overwrite, resume=bool(args.resume)).run()


def train_main(argv: Sequence[str] | None = None) -> int:
    return _run(_train, train_parser(), argv)


# ----------------------------------------------------------------------------- generate


def generate_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="pushkin-lm-generate",
        description="Write verse with a trained model, streaming it to stdout as it is sampled.",
        formatter_class=HelpFormatter,
    )
    _flag(
        p,
        "checkpoint",
        help="checkpoint folder or a training run's --out folder (default: the shipped model)",
    )
    _flag(p, "prompt", default="", help="text to continue (printed first)")
    _flag(p, "prompt_file", help="read the prompt from this UTF-8 file")
    _flag(p, "max_tokens", type=_non_negative_int, default=500, help="new characters to write")
    _flag(
        p,
        "temperature",
        type=_finite_float,
        default=0.8,
        help="divides the network's logits (not its calibration): 0 is greedy; higher is more adventurous",
    )
    _flag(p, "top_k", type=_positive_int, help="sample only from the k most likely characters")
    _flag(p, "top_p", type=_finite_float, help="sample only from the smallest set with this much probability")
    _flag(p, "seed", type=_seed, help="random seed: the same seed gives the same text")
    _flag(p, "num_samples", type=_positive_int, default=1, help="how many texts to write")
    _flag(
        p,
        "precision",
        choices=("int8", "float32"),
        default="int8",
        help="weights while sampling: int8 is 2-3x faster, float32 is exactly the trained model",
    )
    return p


def _generate(args: argparse.Namespace) -> None:
    from .sample import check_sampling_args, check_seed

    check_sampling_args(args.temperature, args.top_k, args.top_p)
    check_seed(args.seed)
    _check_stdout_encodes("пушкин")  # before the model loads, not after the first line of verse
    prompt = args.prompt
    if args.prompt_file:
        from .data import MAX_PROMPT_BYTES, read_text

        prompt = read_text(args.prompt_file, MAX_PROMPT_BYTES, "prompt")

    import torch

    from .checkpoint import load_checkpoint
    from .decoder import Decoder
    from .sample import check_prompt, generate

    torch.set_num_threads(1)  # one character at a time is too small to share across threads
    ckpt = load_checkpoint(args.checkpoint)
    check_prompt(ckpt.vocab, prompt)  # before the prompt is echoed
    decoder = Decoder(ckpt.model, int8=args.precision == "int8")  # packed once for all samples
    out = sys.stdout
    for i in range(args.num_samples):
        if i:
            out.write("\n\n" + "-" * 40 + "\n\n")
        seed = None if args.seed is None else (args.seed + i) % 2**64
        out.write(prompt)
        for char in generate(
            ckpt.model,
            ckpt.vocab,
            prompt,
            args.max_tokens,
            args.temperature,
            args.top_k,
            args.top_p,
            seed,
            decoder=decoder,
        ):
            out.write(char)
            out.flush()
        out.write("\n")
    out.flush()


def _check_stdout_encodes(sample: str) -> None:
    encoding = sys.stdout.encoding or "utf-8"
    try:
        sample.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        raise PushkinLMError(
            f"standard output cannot encode Cyrillic (its encoding is {encoding}); "
            "set PYTHONIOENCODING=utf-8 or a UTF-8 locale"
        ) from None


def generate_main(argv: Sequence[str] | None = None) -> int:
    return _run(_generate, generate_parser(), argv)


# ----------------------------------------------------------------------------- evaluate


def evaluate_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="pushkin-lm-evaluate",
        description="Score a text file with a model: nats and bits per character over the whole file.",
        formatter_class=HelpFormatter,
    )
    _flag(p, "data", required=True, help="UTF-8 text file to score (or a folder holding test.txt/train.txt)")
    _flag(
        p,
        "checkpoint",
        help="checkpoint folder or a training run's --out folder (default: the shipped model)",
    )
    _flag(
        p,
        "split",
        choices=["all", "train", "val"],
        default="all",
        help="score the whole file, or only its first 90 %% (train) or last 10 %% (val), "
        "cut as training cuts it",
    )
    _flag(p, "val_fraction", type=_finite_float, default=0.1, help="the share that --split val scores")
    _flag(p, "json", action="store_true", help="print one JSON object instead of text")
    return p


def _evaluate(args: argparse.Namespace) -> None:
    import json

    from .checkpoint import load_checkpoint
    from .data import read_text, split_train_val
    from .evaluate import score_text

    path = Path(args.data)
    if path.is_dir():
        found = [path / name for name in ("test.txt", "train.txt") if (path / name).is_file()]
        if not found:
            raise PushkinLMError(f"folder {path} holds neither test.txt nor train.txt; pass --data FILE")
        path = found[0]
    elif not path.exists():
        raise PushkinLMError(f"data file {path} does not exist; check the --data path")
    text = read_text(path)
    if args.split != "all":
        if not 0 < args.val_fraction < 1:
            raise PushkinLMError(f"--val_fraction must be in (0, 1), got {args.val_fraction}")
        train, val = split_train_val(text, args.val_fraction)
        text = train if args.split == "train" else val
    if len(text) < 2:
        part = "" if args.split == "all" else f"the {args.split} split of "
        raise PushkinLMError(
            f"{part}{path} has {len(text)} character{'s' * (len(text) != 1)}, and scoring needs at least 2; "
            + ("pass a longer file" if args.split == "all" else "pass a longer file or --split all")
        )
    ckpt = load_checkpoint(args.checkpoint)
    score = score_text(ckpt.model, ckpt.vocab, text)
    if args.json:
        print(json.dumps(score.to_json()))
    else:
        print(
            f"{path}{'' if args.split == 'all' else f' ({args.split} split)'}: "
            f"{score.nats_per_char:.4f} nats/char, {score.bits_per_char:.4f} bits/char "
            f"over {score.chars:,} characters ({score.unknown_chars} outside the vocabulary)"
        )


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    return _run(_evaluate, evaluate_parser(), argv)
