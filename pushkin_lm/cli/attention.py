"""`pushkin-lm attention`: what each attention head looks at over a line, as a heat-map."""

from __future__ import annotations

import argparse
from pathlib import Path

from pushkin_lm.cli.common import checkpoint_flag
from pushkin_lm.core.settings import add_flag

DESCRIPTION = "Draw what each attention head of a model looks at over a line of verse, as a heat-map."


def flags(p: argparse.ArgumentParser) -> None:
    add_flag(p, "text", required=True, help="a line of verse (at most the model's attention window)")
    add_flag(p, "out", default="attention.png", help="where to write the heat-map")
    checkpoint_flag(p)


def run(args: argparse.Namespace) -> None:
    from pushkin_lm.publish.plot import plot_attention
    from pushkin_lm.store.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(args.checkpoint)
    print(plot_attention(checkpoint.model, checkpoint.vocab, args.text, Path(args.out)))
