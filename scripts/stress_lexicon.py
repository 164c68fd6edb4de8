"""Write pushkin_lm/verse/lexicon.txt.xz: silero-stress's answers for the words the shipped models write.

    python scripts/stress_lexicon.py [--chars 400000] [--stanzas 20] [--keep_text FILE]
    python scripts/stress_lexicon.py --text FILE      # the words of a text kept before

`scan` (and the stanza forms of `generate`) look a word up in the lexicon before they ask the stress
model, so that verse of known words scans without importing torch or loading the model; a word the
lexicon lacks still goes to the model, which gives the same answer (verse/stress.py).

The words come from text that the shipped models (pushkin-lm and ru-verse-base) write with their
default settings, never from a training corpus: per model, free text from seeds 1, 2, ... (5,000
characters a seed, --chars in all) and --stanzas Onegin stanzas (seeds 1, 2, ...). Every word there
that no rule settles (two or more vowels, no ё; hyphenated words split) gets `model_stresses`'
answer, one line a word, 'word options[ё]' as verse/stress.py reads it; the lines are sorted and
xz-compressed, so the same words always give the same bytes.

The shipped file comes from the defaults: 2 x 400,000 characters and 2 x 20 stanzas (three of the
seeds cannot finish theirs and are skipped), 813,782 characters in all, about 15 minutes on two
busy CPU cores; 20,489 words, 61,384 bytes.
"""

from __future__ import annotations

import argparse
import lzma
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's pushkin_lm, also when it is not installed

from pushkin_lm.verse.stress import LEXICON, lexicon_entry, looked_up, model_stresses  # noqa: E402

MODELS = ("pushkin-lm", "base")  # checkpoints/pushkin-lm and checkpoints/ru-verse-base
CHUNK = 5_000  # characters of free text per seed
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def model_texts(chars: int, stanzas: int) -> Iterator[str]:
    """What each shipped model writes: free text from seeds 1, 2, ..., then Onegin stanzas."""
    import torch

    from pushkin_lm import PushkinLM
    from pushkin_lm.core.errors import PushkinLMError

    torch.set_num_threads(1)  # polite on a shared machine; the text does not depend on it
    for name in MODELS:
        model = PushkinLM.from_pretrained(name)
        for seed in range(1, -(-chars // CHUNK) + 1):
            yield model.generate("", max_tokens=min(CHUNK, chars - (seed - 1) * CHUNK), seed=seed)
        for seed in range(1, stanzas + 1):
            try:
                yield model.stanza("onegin", seed=seed)
            except PushkinLMError as err:  # a seed whose stanza cannot be finished: the next one
                print(f"\n{name} onegin seed {seed}: {err}", file=sys.stderr)


def lexicon_lines(words: Iterable[str]) -> list[str]:
    """The lexicon's lines for `words`, sorted; a word whose stress lies past its 10th vowel is left
    to the model (the lexicon writes each stress as one digit)."""
    words = sorted(set(words))
    lines = []
    for word, (options, yo) in zip(words, model_stresses(words), strict=True):
        if all(i <= 9 for i in options):
            lines.append(lexicon_entry(word, options, yo))
    return lines


def write(lines: list[str], path: Path) -> int:
    """Write the lines xz-compressed (whole or not at all); returns the bytes written."""
    data = lzma.compress("".join(line + "\n" for line in lines).encode("utf-8"), preset=XZ_PRESET)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chars", type=int, default=400_000, help="characters of free text per model")
    p.add_argument("--stanzas", type=int, default=20, help="Onegin stanzas per model")
    p.add_argument("--text", type=Path, help="take the words from this UTF-8 text instead of generating")
    p.add_argument("--keep_text", type=Path, help="also write the generated text to this file")
    p.add_argument("--out", type=Path, default=LEXICON, help="the lexicon to write")
    args = p.parse_args()
    start = time.perf_counter()
    if args.text:
        text = args.text.read_text(encoding="utf-8")
    else:
        pieces = []
        for piece in model_texts(args.chars, args.stanzas):
            pieces.append(piece)
            print(f"\r{sum(map(len, pieces)):,} characters written", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        text = "\n\n".join(pieces)
        if args.keep_text:
            args.keep_text.write_text(text, encoding="utf-8")
    lines = lexicon_lines(looked_up(text))
    size = write(lines, args.out)
    seconds = time.perf_counter() - start
    made = f"{len(lines):,} words, {size:,} bytes, from {len(text):,} characters"
    print(f"{args.out}: {made} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
