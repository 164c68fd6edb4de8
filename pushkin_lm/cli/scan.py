"""`pushkin-lm scan`: the stresses, syllables, meter and rhymes of any Russian verse."""

from __future__ import annotations

import argparse
import json

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import MAX_PROMPT_BYTES, read_text
from pushkin_lm.core.settings import add_flag

DESCRIPTION = "Scan verse: stresses, syllables, meter and rhyme letters of each line, stanza by stanza."


def flags(p: argparse.ArgumentParser) -> None:
    help_ = "UTF-8 text to scan; stanzas are separated by blank lines"
    p.add_argument("file", nargs="?", metavar="FILE", help=help_)
    add_flag(p, "text", help="scan this text instead of a file")
    add_flag(p, "json", action="store_true", help="print one JSON object instead of text")


def run(args: argparse.Namespace) -> None:
    from pushkin_lm.verse import scan_text

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
    summary = scanned.to_dict()["summary"]
    print("summary: " + "; ".join(f"{key}: {value}" for key, value in summary.items()))
