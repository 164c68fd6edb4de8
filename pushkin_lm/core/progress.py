"""Training progress: a live bar on a terminal, a plain line now and then anywhere else.

Redirected to a file, a progress bar writes a frame per update (carriage returns and all) into
the log; there a line every `PLAIN_EVERY_S` seconds says the same, as nanoGPT's log lines do.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

TICKS = 1000  # the bar's resolution: the schedule's progress in tenths of a percent
PLAIN_EVERY_S = 30.0


class Progress:
    def __init__(self, enabled: bool, log: Callable[[str], None], stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = enabled and self.stream.isatty()
        self.plain = enabled and not self.live
        self.log = log
        self.last_line = time.monotonic()
        self.bar = tqdm(
            total=TICKS,
            file=self.stream,
            disable=not self.live,
            dynamic_ncols=True,
            bar_format="{percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",  # tqdm adds ", "
        )

    def update(self, fraction: float, step: int, loss: float, lr: float, epochs: str = "") -> None:
        """Report the schedule's progress (steps or time budget, whichever is further along) and,
        where given, how many passes over its text (each source's) training has made."""
        status = f"step {step} loss {loss:.3f} lr {lr:.1e}" + (f" | epoch {epochs}" if epochs else "")
        if self.live:
            self.bar.update(min(TICKS, int(fraction * TICKS)) - self.bar.n)
            self.bar.set_postfix_str(status)
        elif self.plain and time.monotonic() - self.last_line >= PLAIN_EVERY_S:
            self.last_line = time.monotonic()
            print(f"{min(fraction, 1.0):4.0%} | {status}", file=self.stream, flush=True)

    def evaluating(self, step: int, final: bool) -> None:
        """Say that an evaluation is running, which takes a while on a big validation split (the
        bar would sit still without a word). Redirected, the final one has a line of its own."""
        if self.live:
            self.bar.set_postfix_str(f"step {step} | evaluating{' (final)' if final else ''}…")
        elif self.plain and final:
            print(f"step {step} | final evaluation…", file=self.stream, flush=True)

    def write(self, line: str) -> None:
        """A line of the run's log, kept clear of the bar."""
        if self.live:
            self.bar.write(line)
        else:
            self.log(line)

    def close(self) -> None:
        self.bar.close()


def describe_evaluation(metrics: dict, elapsed_s: float, improved: bool) -> str:
    """One log line of an evaluation: step, time, each score in nats and bits, the temperature."""
    scores = [
        f"{name.removesuffix('_nats_per_char')} {value:.4f} nats ({value / math.log(2):.3f} bits)"
        for name, value in metrics.items()
        if name.endswith("_nats_per_char")
    ]
    scores += [f"val {name} {value:.4f}" for name, value in metrics.get("val_by_source", {}).items()]
    return (
        f"step {metrics['step']:>6} | {elapsed_s / 60:5.1f} min | " + " | ".join(scores)
        + f" | temperature {metrics['temperature']:.2f}" + (" | best" if improved else "")
    )  # fmt: skip
