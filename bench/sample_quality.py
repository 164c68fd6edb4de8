"""Sample quality beyond loss: real words, no recitation, verse-like lines.

    python bench/sample_quality.py [--samples 20] [--chars 1000] [--temperature 0.8] [--json]

Generates samples with the shipped model (or --checkpoint) and reports
  - the share of generated Cyrillic words that occur in the corpus's word list,
  - the share of generated 30-character strings copied verbatim from the corpus,
  - the share of non-empty lines that are 20-45 characters long, as verse lines are.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import torch

from pushkin_lm.core.files import read_text
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import generate
from pushkin_lm.store.checkpoint import load_checkpoint

from corpus import DEFAULT_DATA

WORD = re.compile(r"[а-яё]+")
COPY_SPAN = 30


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def verse_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip() and line.strip() != "</s>"]


def quality(samples: list[str], corpus: str) -> dict:
    vocabulary = set(words(corpus))
    spans = {corpus[i : i + COPY_SPAN] for i in range(len(corpus) - COPY_SPAN + 1)}
    generated_words = [w for s in samples for w in words(s)]
    generated_spans = [s[i : i + COPY_SPAN] for s in samples for i in range(len(s) - COPY_SPAN + 1)]
    lines = [line for s in samples for line in verse_lines(s)]
    return {
        "samples": len(samples),
        "words": len(generated_words),
        "known_word_share": sum(w in vocabulary for w in generated_words) / max(1, len(generated_words)),
        "copied_30char_share": sum(s in spans for s in generated_spans) / max(1, len(generated_spans)),
        "verse_line_share": sum(20 <= len(line) <= 45 for line in lines) / max(1, len(lines)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--chars", type=int, default=1000)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the corpus, for words and copies")
    parser.add_argument("--precision", choices=("int8", "float32"), default="int8", help="sampling weights")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    decoder = Decoder(ckpt.model, int8=args.precision == "int8")  # one for all samples
    settings = [
        SampleConfig(max_tokens=args.chars, temperature=args.temperature, seed=s) for s in range(args.samples)
    ]
    samples = ["".join(generate(decoder, ckpt.vocab, "", each)) for each in settings]
    result = {
        "temperature": args.temperature,
        "chars": args.chars,
        "precision": args.precision,
        **quality(samples, read_text(args.data)),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['samples']} samples x {args.chars} chars at T={args.temperature}: "
            f"known words {result['known_word_share']:.1%}, copied 30-char strings "
            f"{result['copied_30char_share']:.2%}, verse-length lines {result['verse_line_share']:.1%}"
        )


if __name__ == "__main__":
    main()
