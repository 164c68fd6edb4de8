"""Training text from several sources, each with a weight: a corpus mixture.

    --data ../shared/data/ru_corpus/verse:3 ../shared/data/ru_corpus/prose:1

A source is a text file, or a folder of `.txt` files (a folder holding `train.txt` is that one
file, as a single `--data` folder always was). Its weight says how often each of its characters
is read, against a source of weight 1: `verse:3 prose:1` reads every verse character three times
for each prose character, so a source's share of every batch is its weight times its size over
the sum of them all. A folder of weight 3 and its files each of weight 3 make the same mixture
(so a shell glob may list the files it wants). Each file is split as one text is, so every
source, and every file of it, holds out its own validation slice:

    one file:   |--------------------- train ---------------------|-- calib --|---- val ----|
                                                                   5 % of the   10 % of the
                                                                   rest         file
    a source:   train = its files' train parts joined, calib and val likewise

The vocabulary of a mixture is every character of the Pushkin corpus and every character that
makes up at least one in a million of the mixture; the rare rest is read as the unknown id 0.
Ids are stored in the narrowest integer type that holds the vocabulary (one byte a character
for any alphabet of up to 256), so 53 M characters take 53 MB, not the 424 MB of int64.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from pushkin_lm.core.files import read_text, why_absent
from pushkin_lm.data.corpus import Corpus, Split, joined, split_ids
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import ENCODE_CHUNK, PUSHKIN_CHARS, CharVocab, code_points

MIN_CHAR_SHARE = 1e-6  # a character rarer than this in a mixture is read as unknown
MAX_UNKNOWN_SHARE = 0.5  # a source more unknown than known is a mistake, not a text to learn


@dataclass(frozen=True)
class Source:
    """One `--data` entry: its files and its weight (how often each of its characters is read)."""

    name: str
    files: tuple[Path, ...]
    weight: float = 1.0


def parse_sources(data: str | Sequence[str]) -> list[Source]:
    """The sources of `--data`: each entry `PATH` or `PATH:WEIGHT` (weight 1 by default)."""
    entries = [data] if isinstance(data, str) else list(data)
    if not entries:
        raise PushkinLMError("--data names no source; pass a text file or folder, e.g. --data poems.txt")
    sources = [_parse_entry(entry) for entry in entries]
    names = [s.name for s in sources]
    return [  # two folders both called "verse" are verse#1 and verse#2
        replace(s, name=f"{s.name}#{names[:i].count(s.name) + 1}") if names.count(s.name) > 1 else s
        for i, s in enumerate(sources)
    ]


def _parse_entry(entry: str) -> Source:
    path, weight = Path(entry), 1.0
    if not path.exists() and ":" in entry:
        head, tail = entry.rsplit(":", 1)
        try:
            weight = float(tail)
        except ValueError:
            raise PushkinLMError(
                f"--data {entry}: the weight after ':' must be a number, got {tail!r}; "
                "write PATH or PATH:WEIGHT, e.g. verse:3"
            ) from None
        path = Path(head)
        if not math.isfinite(weight) or weight <= 0:
            raise PushkinLMError(
                f"--data {entry}: a weight must be a positive number, got {tail}; "
                "drop the source instead of weighting it 0"
            )
    if not path.exists():
        raise PushkinLMError(f"data source {path} {why_absent(path)}; check the --data path")
    return Source(path.stem or path.name or str(path), _files(path), weight)


def _files(path: Path) -> tuple[Path, ...]:
    """A file itself; a folder's train.txt; else every .txt file in the folder, in name order."""
    if not path.is_dir():
        return (path,)
    if (path / "train.txt").is_file():
        return (path / "train.txt",)
    files = tuple(sorted(p for p in path.glob("*.txt") if p.is_file()))
    if not files:
        raise PushkinLMError(
            f"folder {path} holds no train.txt and no other .txt file; pass --data PATH to a text "
            "file, or a folder of .txt files"
        )
    return files


def is_mixture(sources: list[Source]) -> bool:
    """Several sources, or a folder of several files: a mixture (its vocabulary drops rare characters)."""
    return len(sources) > 1 or len(sources[0].files) > 1


def count_chars(sources: list[Source]) -> Counter[str]:
    """How often each character occurs in all the sources' files, read one file at a time."""
    counts: Counter[str] = Counter()
    for path in (path for source in sources for path in source.files):
        text = read_text(path)
        for start in range(0, len(text), ENCODE_CHUNK):
            codes, n = np.unique(code_points(text[start : start + ENCODE_CHUNK]), return_counts=True)
            counts.update(dict(zip(map(chr, codes.tolist()), n.tolist(), strict=True)))
    return counts


def own_vocab(sources: list[Source], counts: Counter[str]) -> CharVocab:
    """The vocabulary the sources make: one text's every character; a mixture's every character of
    the Pushkin corpus and every one that makes up at least `MIN_CHAR_SHARE` of it, so a model that
    has read it fine-tunes on Pushkin with no new character, and a character seen a handful of
    times gets no embedding of noise."""
    if not is_mixture(sources):
        return CharVocab.build(counts)
    frequent = {c for c, n in counts.items() if n >= sum(counts.values()) * MIN_CHAR_SHARE}
    return CharVocab.build(frequent | set(PUSHKIN_CHARS))


def read_corpus(
    sources: list[Source],
    val_fraction: float,
    calib_fraction: float,
    choose_vocab: Callable[[CharVocab, Counter[str]], CharVocab] = lambda own, counts: own,
) -> Corpus:
    """Every source read, encoded and split file by file; `choose_vocab(own, counts)` may put
    another vocabulary (a resumed or fine-tuning run's) in place of the sources' own."""
    counts = count_chars(sources)
    vocab = choose_vocab(own_vocab(sources, counts), counts)
    splits = [_split_source(s, vocab, val_fraction, calib_fraction) for s in sources]
    read = [split.weight * len(split.train) for split in splits]  # characters of each, weighted
    total = sum(read) or 1.0  # no training split at all (--val_fraction 0.999): training says so
    return Corpus(vocab, [replace(split, weight=r / total) for split, r in zip(splits, read, strict=True)])


def _split_source(source: Source, vocab: CharVocab, val_fraction: float, calib_fraction: float) -> Split:
    """The source's files encoded and split one by one, their parts joined; its share is set later."""
    parts: list[tuple[torch.Tensor, ...]] = []
    unknown = chars = 0
    for path in source.files:
        ids = vocab.tensor(read_text(path))
        unknown, chars = unknown + int((ids == 0).sum()), chars + len(ids)
        parts.append(split_ids(ids, val_fraction, calib_fraction))
    if unknown > MAX_UNKNOWN_SHARE * chars:
        raise PushkinLMError(
            f"data source {source.name}: {unknown / chars:.0%} of its characters are outside the "
            f"vocabulary; check that it is the text you meant, or train on it alone"
        )
    train, calib, val = (joined(column) for column in zip(*parts, strict=True))
    return Split(source.name, source.weight, train, calib, val)
