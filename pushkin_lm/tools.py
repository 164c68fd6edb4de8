"""Commands that look at models and verse rather than train or write it: `plot`, `attention`, `scan`.

matplotlib and the stress model are imported inside these commands only, so neither is ever on
the generation path.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .commands import CHECKPOINT_HELP, flag
from .errors import PushkinLMError

CURVES_PNG = "curves.png"  # where `plot` and training draw a run's curves, inside the run folder


def plot_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="OUT", help="a training run's folder (its log.jsonl)")
    flag(p, "png", help=f"where to write the picture (default: OUT/{CURVES_PNG})")


def plot(args: argparse.Namespace) -> None:
    from .plot import plot_training_curves

    png = Path(args.png) if args.png else Path(args.run) / CURVES_PNG
    print(plot_training_curves(Path(args.run), png))


def attention_flags(p: argparse.ArgumentParser) -> None:
    flag(p, "text", required=True, help="a line of verse (at most the model's attention window)")
    flag(p, "out", default="attention.png", help="where to write the heat-map")
    flag(p, "checkpoint", help=CHECKPOINT_HELP)


def attention(args: argparse.Namespace) -> None:
    from .checkpoint import load_checkpoint
    from .plot import plot_attention

    checkpoint = load_checkpoint(args.checkpoint)
    print(plot_attention(checkpoint.model, checkpoint.vocab, args.text, Path(args.out)))


def scan_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", help="UTF-8 text to scan; stanzas are separated by blank lines")
    flag(p, "text", help="scan this text instead of a file")
    flag(p, "json", action="store_true", help="print one JSON object instead of text")


def scan(args: argparse.Namespace) -> None:
    from .data import MAX_PROMPT_BYTES, read_text
    from .verse import scan_text

    if (args.file is None) == (args.text is None):
        raise PushkinLMError("give a FILE to scan or --text, not both and not neither")
    text = args.text if args.text is not None else read_text(args.file, MAX_PROMPT_BYTES, "text to scan")
    scanned = scan_text(text.replace("\r\n", "\n"))
    if args.json:
        print(json.dumps(scanned.to_dict(), ensure_ascii=False))
        return
    for stanza in scanned.stanzas:
        print(f"scheme {stanza.scheme}")
        for line in stanza.lines:
            meter = f"{line.meter} {line.feet}" if line.meter else "no meter"
            print(f"  {line.rhyme or '-'}  {line.syllables:>2}  {meter:<14} {line.stressed}")
        print()
    print(_summary_line(scanned.to_dict()["summary"]))


def _summary_line(summary: dict) -> str:
    parts = [f"{key}: {value}" for key, value in summary.items()]
    return "summary: " + "; ".join(parts)
