"""What several commands share: the --checkpoint flag, and a terminal that can show Cyrillic."""

from __future__ import annotations

import argparse
import sys

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import add_flag

CHECKPOINT_HELP = (
    "checkpoint folder, a training run's --out folder, a Hugging Face Hub model owner/name, or a "
    "shipped model: pushkin-lm (the default) or base (Russian verse, not fine-tuned on Pushkin)"
)


def checkpoint_flag(parser: argparse.ArgumentParser) -> None:
    add_flag(parser, "checkpoint", help=CHECKPOINT_HELP)


def check_stdout_encodes(sample: str = "пушкин") -> None:
    """Refuse, before any model loads, a standard output that cannot encode Russian."""
    encoding = sys.stdout.encoding or "utf-8"
    try:
        sample.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        raise PushkinLMError(
            f"standard output cannot encode Cyrillic (its encoding is {encoding}); "
            "set PYTHONIOENCODING=utf-8 or a UTF-8 locale"
        ) from None
