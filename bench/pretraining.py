"""Pretraining and fine-tuning against Pushkin-only training, for the same CPU time, in one run.

    python bench/pretraining.py --minutes 30 --pretrain_share 0.67 \
        --mixture ../shared/data/ru_corpus/verse:6 ../shared/data/ru_corpus/prose:1 [--json]

Two ways to spend `--minutes` of one thread on a Pushkin model, each `code/train.py` as a user
runs it, one after the other, both scored on the Pushkin validation split (the last 10 % of
`--data`, never trained on):
  - pushkin-only: the default recipe on the Pushkin training split for all the minutes;
  - pretrained: the default recipe on `--mixture` for `--pretrain_share` of the minutes, then
    `--init_from` that model on the Pushkin training split for the rest, with FINETUNE_FLAGS
    (the recipe of the shipped model's fine-tuning, docs/results.md).
Each figure is the run's best validation nats/char, as its checkpoint records it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from corpus import DEFAULT_DATA
from finetune import train

# The fine-tuning recipe of checkpoints/pushkin-lm (docs/results.md): a whole corpus to learn,
# so a higher peak than the `finetune` preset's 1e-4, which suits a few minutes on a small text.
FINETUNE_FLAGS = ["--learning_rate", "3e-4", "--min_lr", "3e-5", "--warmup_iters", "50"]
# A mixture's validation scores 250,000 characters of each source (a minute on one thread), so
# pretraining validates seldom: its minutes go to training; the run's end validates once more.
PRETRAIN_EVAL_INTERVAL = 1000


def run(args: argparse.Namespace, scratch: Path) -> dict:
    common = ["--threads", "1", *args.train_flags]
    pushkin_eval = ["--eval_interval", str(args.eval_interval)]
    pretrain_minutes = args.minutes * args.pretrain_share
    all_minutes = ["--max_minutes", str(args.minutes)]
    pushkin_only = train(["--data", args.data, *all_minutes, *pushkin_eval, *common], scratch / "pushkin")
    base = scratch / "base"
    pretrain = ["--data", *args.mixture, "--max_minutes", str(pretrain_minutes)]
    base_val = train([*pretrain, "--eval_interval", str(PRETRAIN_EVAL_INTERVAL), *common], base)
    finetune_flags = ["--data", args.data, "--init_from", str(base), *FINETUNE_FLAGS]
    minutes_left = str(args.minutes - pretrain_minutes)
    pretrained = train(
        [*finetune_flags, "--max_minutes", minutes_left, *pushkin_eval, *common], scratch / "finetuned"
    )
    return {
        "minutes": args.minutes,
        "pretrain_minutes": round(pretrain_minutes, 2),
        "mixture": args.mixture,
        "pushkin_only_val": round(pushkin_only, 4),
        "base_mixture_val": round(base_val, 4),
        "pretrained_val": round(pretrained, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="CPU minutes of each way (one thread)")
    parser.add_argument("--pretrain_share", type=float, default=2 / 3, help="share of them spent pretraining")
    parser.add_argument("--mixture", nargs="+", required=True, help="the pretraining --data sources")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="the Pushkin corpus")
    parser.add_argument("--eval_interval", type=int, default=250, help="steps between Pushkin validations")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("train_flags", nargs="*", help="after --: more code/train.py flags for every run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        result = run(args, Path(scratch))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['minutes']:g} minutes of one thread each, scored on the Pushkin validation split:")
    print(f"  Pushkin only                                  {result['pushkin_only_val']:.4f} nats/char")
    print(f"  pretrained {result['pretrain_minutes']:g} min (mixture val {result['base_mixture_val']:.4f}), "
          f"then fine-tuned: {result['pretrained_val']:.4f} nats/char")  # fmt: skip


if __name__ == "__main__":
    main()
