"""`pushkin-lm plot`: a training run's curves as a picture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pushkin_lm.core.settings import add_flag
from pushkin_lm.store.layout import CURVES_FILE

DESCRIPTION = "Draw a training run's curves: nats/char against steps and against time, the best marked."


def flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="OUT", help="a training run's folder (its log.jsonl)")
    add_flag(p, "png", help=f"where to write the picture (default: OUT/{CURVES_FILE})")
    add_flag(p, "title", help="the picture's title (default: the run folder's name and its evaluations)")


def run(args: argparse.Namespace) -> None:
    from pushkin_lm.publish.plot import plot_training_curves

    png = Path(args.png) if args.png else Path(args.run) / CURVES_FILE
    # Damaged log lines are skipped, and said so in one line on stderr: stdout holds only the path.
    print(
        plot_training_curves(Path(args.run), png, args.title, warn=lambda line: print(line, file=sys.stderr))
    )
