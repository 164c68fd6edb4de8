"""`pushkin-lm plot`: a training run's curves as a picture."""

from __future__ import annotations

import argparse
from pathlib import Path

from pushkin_lm.core.settings import add_flag
from pushkin_lm.store.layout import CURVES_FILE

DESCRIPTION = "Draw a training run's curves: nats/char against steps and against time, the best marked."


def flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="OUT", help="a training run's folder (its log.jsonl)")
    add_flag(p, "png", help=f"where to write the picture (default: OUT/{CURVES_FILE})")


def run(args: argparse.Namespace) -> None:
    from pushkin_lm.publish.plot import plot_training_curves

    png = Path(args.png) if args.png else Path(args.run) / CURVES_FILE
    print(plot_training_curves(Path(args.run), png))
