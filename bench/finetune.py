"""Fine-tuning against training from scratch on a small text, for the same minutes, in one run.

    python bench/finetune.py --data mytext.txt [--minutes 2] [--checkpoint CKPT] [--json] [-- train.py flags]
    python bench/finetune.py --held_out_of train.txt     # the corpus's validation split as the text

Three figures, each the validation loss (nats/char) on the last 10 % of the small text: the
starting checkpoint as it is; the checkpoint fine-tuned on the first 90 % (`--init_from`) for
`--minutes`; and a network of the same size, with the default regularisation, trained from
scratch on it for the same minutes. Training runs are `code/train.py` as a user runs it, one
after the other. `--checkpoint base` starts from the shipped base model of Russian verse.

`--held_out_of CORPUS` takes the text to be the last 10 % of CORPUS: poems that a model trained
on the standard split of CORPUS never trained on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.scorer import score_text
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.train.finetune import REGULARISATION

ROOT = Path(__file__).resolve().parents[1]
VAL_FRACTION = 0.1


def train(flags: list[str], out: Path) -> float:
    """Best validation nats/char of `code/train.py FLAGS --out OUT`."""
    command = [sys.executable, "code/train.py", *flags, "--out", str(out), "--no_progress"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return load_checkpoint(out).meta["best_val_nats_per_char"]


def network_flags(cfg: ModelConfig) -> list[str]:
    """The train.py flags that build the network `cfg` describes (for its vocabulary), with the
    default regularisation: what `code/train.py --data mytext.txt` would train, at that size."""
    flags = []
    for name, value in cfg.to_json().items():
        if name in REGULARISATION:
            continue
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no_{name}")
        elif name != "vocab_size":
            flags.append(f"--{name}={value}")
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    text = parser.add_mutually_exclusive_group(required=True)
    text.add_argument("--data", help="the small text to fine-tune on")
    text.add_argument("--held_out_of", metavar="CORPUS", help="use the last 10 %% of CORPUS as the text")
    parser.add_argument("--minutes", type=float, default=2.0, help="training time of each run")
    parser.add_argument("--checkpoint", help="the model to start from (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("train_flags", nargs="*", help="after --: more code/train.py flags, for both runs")
    args = parser.parse_args()

    start = load_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.data) if args.data else Path(scratch) / "held-out.txt"
        if args.held_out_of:  # a temporary copy: a slice of the corpus is never kept anywhere
            data.write_text(split_train_val(read_text(args.held_out_of), VAL_FRACTION)[1], encoding="utf-8")
        val = split_train_val(read_text(data), VAL_FRACTION)[1]
        as_is = score_text(start.model, start.vocab, val, start.temperature).nats_per_char
        common = ["--data", str(data), "--max_minutes", str(args.minutes), f"--val_fraction={VAL_FRACTION}"]
        reference = args.checkpoint or str(start.path)  # as given: `--checkpoint base`, `--init_from base`
        tuned = train([*common, "--init_from", reference, *args.train_flags], Path(scratch) / "tuned")
        scratch_run = train(
            [*common, *network_flags(start.model.cfg), *args.train_flags], Path(scratch) / "scratch"
        )
    result = {
        "text": str(args.data or f"last 10 % of {args.held_out_of}"),
        "val_chars": len(val),
        "minutes": args.minutes,
        "checkpoint": str(start.path),
        "as_is_nats_per_char": as_is,
        "fine_tuned_nats_per_char": tuned,
        "from_scratch_nats_per_char": scratch_run,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['text']}: validation {len(val):,} characters; {args.minutes:g} minutes of training each")
    print(f"{start.path} as it is       {as_is:.4f} nats/char")
    print(f"fine-tuned (--init_from)     {tuned:.4f} nats/char")
    print(f"the same network, scratch    {scratch_run:.4f} nats/char")


if __name__ == "__main__":
    main()
