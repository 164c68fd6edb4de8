"""Word stress: a few sure rules first, then a lexicon, then the silero-stress model for the rest.

Rules, in order: a word without vowels has no stress; a stress mark (U+0301) already in the text
wins (a secondary mark, U+0300 or U+0302, is dropped); ``ё`` is always stressed; a one-vowel word
is stressed on its vowel. Every other word is looked up in `lexicon.txt.xz` beside this file, and
a word the lexicon lacks goes to silero-stress's accentor (an n-gram model over ~4M word forms),
whose answers the lexicon holds for the words the shipped models write (scripts/stress_lexicon.py
writes it): the same stresses either way, but a stanza of known words scans without importing
torch, and the model's load (torch's import and 0.5 s) is paid only for a new word.

A word may take several stresses, all kept as options with the model's own choice first: a
homograph's (silero's list: "замок", "стоит", "руки") and any other that the model gives at least
ALTERNATIVE_MIN of its probability ("глаза", "облаково"). The meter chooses among them, as a reader
does (see `meter`). Words the model is not sure of at all get no stress and are metrically free.

Results are cached per word, and a line's unseen words go to the model in one batch.
"""

from __future__ import annotations

import functools
import importlib.util
import lzma
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VOWELS = frozenset("аеёиоуыэюя")
ACUTE = "\u0301"
SECONDARY = "\u0300\u0302"  # grave and circumflex: a compound's secondary stress, never the rhyme's
_MARKS = ACUTE + SECONDARY
# A word: Cyrillic letters, maybe stress marks inside, maybe hyphenated (split into parts later).
_WORD_RE = re.compile(r"[а-яё\u0300\u0301\u0302]+(?:-[а-яё\u0300\u0301\u0302]+)*", re.IGNORECASE)
# Hyphen-attached particles ("что-то", "скажи-ка") are unstressed.
_POSTFIX_PARTICLES = frozenset("то ка таки де с".split())
_CACHE_LIMIT = 500_000  # words; cleared when full: a generator may invent unbounded vocabulary
_BATCH = 512  # words per model call
# A stress the model gives this share of its probability is one the meter may choose. Measured on
# RIFMA's dev slice (bench/scan_accuracy.py): 0.1-0.3 score alike; below, wrong stresses creep in.
# The lexicon holds the answers it gives: change it, and rewrite the lexicon (tests/verse/test_lexicon.py).
ALTERNATIVE_MIN = 0.05
LEXICON = Path(__file__).with_name("lexicon.txt.xz")

_cache: dict[str, tuple[int, ...]] = {}
_read_yo: set[str] = set()  # words whose stressed е the model reads as ё ("темной" -> "тёмной")
_model_lock = threading.Lock()
_model: _Silero | None = None
_load_seconds: float | None = None
_ASK = -1  # _by_rule's answer when the lexicon or the model must decide


@dataclass(frozen=True)
class Word:
    """One word (or hyphen-separated part) of a line, as the prosody rules see it."""

    start: int  # offset of the word in the line's text
    text: str  # lower case, stress marks removed
    vowels: tuple[int, ...]  # offsets of its vowels inside `text`
    stress: int | None  # index into `vowels` of the stressed one; None: no vowels or unknown
    options: tuple[int, ...]  # every stress the word may take, the likeliest first
    particle: bool  # a hyphen-attached particle ("-то"): never stressed
    marked: bool  # the text itself marks its stress with U+0301
    spots: tuple[int, ...] = ()  # offsets of its vowels in the line's text (marks counted)


def vowel_count(text: str) -> int:
    """Number of syllables: Russian vowels (а е ё и о у ы э ю я) in `text`, any case."""
    return sum(c in VOWELS for c in text.lower())


def _by_rule(word: str) -> int | None:
    vowels = [i for i, c in enumerate(word) if c in VOWELS]
    if not vowels:
        return None
    if "ё" in word:
        return vowels.index(word.index("ё"))
    return 0 if len(vowels) == 1 else _ASK


def stress_options(words: Sequence[str]) -> list[tuple[int, ...]]:
    """The stresses each lower-case word may take, as indices (0-based) among its vowels, the
    likeliest first; none for a word without vowels or one whose stress the model cannot decide.
    Words neither the rules nor the lexicon know go to the model in one batch."""
    missing = [w for w in dict.fromkeys(words) if w not in _cache]
    if missing:
        if len(_cache) + len(missing) > _CACHE_LIMIT:
            _cache.clear()
            _read_yo.clear()
        lexicon = _lexicon()
        answers = {w: _settled(w, lexicon) for w in missing}
        unknown = [w for w, answer in answers.items() if answer is None]
        answers.update(zip(unknown, model_stresses(unknown), strict=True))
        for w, (options, yo) in answers.items():
            _cache[w] = options
            if yo:
                _read_yo.add(w)
    return [_cache[w] for w in words]


def settled_options(words: Sequence[str]) -> list[tuple[int, ...]]:
    """`stress_options` as far as the rules and the lexicon settle them, without the model: () for
    a word neither knows. Cheap enough for a generator to ask at every word it writes, and the same
    answer whatever was looked up before (so a seed gives the same stanza every time)."""
    lexicon = _lexicon()
    return [(_settled(word, lexicon) or ((), False))[0] for word in words]


def _settled(word: str, lexicon: dict[str, str]) -> tuple[tuple[int, ...], bool] | None:
    """A word's stress options and whether its stressed е reads as ё, from the rules or the
    lexicon; None where only the model can tell."""
    rule = _by_rule(word)
    if rule != _ASK:
        return () if rule is None else (rule,), False
    return _answer(lexicon[word]) if word in lexicon else None


def reads_yo(word: str) -> bool:
    """Whether the model reads the stressed е of a looked-up word as ё (texts often spell ё as е)."""
    return word in _read_yo


def word_stress(word: str) -> int | None:
    """Index of the stressed vowel of one word (any case; a U+0301 mark in it wins); None: no
    vowels or unknown."""
    if ACUTE in word:
        return _marked_stress(word)
    options = stress_options([_plain(word)])[0]
    return options[0] if options else None


def _plain(part: str) -> str:
    return "".join(c for c in part.lower() if c not in _MARKS)


def line_words(
    text: str, options_of: Callable[[Sequence[str]], list[tuple[int, ...]]] = stress_options
) -> list[Word]:
    """The words of a line with their stresses (from `options_of`: `settled_options` to leave the
    model out); hyphenated words split into their parts."""
    parts = []  # (start, text as written, particle?)
    for match in _WORD_RE.finditer(text):
        offset = match.start()
        for i, part in enumerate(match.group().split("-")):
            parts.append((offset, part, i > 0 and _plain(part) in _POSTFIX_PARTICLES))
            offset += len(part) + 1
    plain = [_plain(part) for _, part, _ in parts]
    found = iter(options_of([w for w, (_, part, _) in zip(plain, parts, strict=True) if ACUTE not in part]))
    words = []
    for (start, part, particle), lower in zip(parts, plain, strict=True):
        marked = ACUTE in part
        options = next(found) if not marked else (_marked_stress(part),)
        options = () if particle or options == (None,) else options
        vowels = tuple(i for i, c in enumerate(lower) if c in VOWELS)
        spots = tuple(start + i for i, c in enumerate(part.lower()) if c in VOWELS)
        stress = options[0] if options else None
        words.append(Word(start, lower, vowels, stress, options, particle, marked, spots))
    return words


def _marked_stress(part: str) -> int | None:
    """A stress mark written in the text: the vowel right before the first U+0301."""
    head = part[: part.index(ACUTE)]
    return vowel_count(head) - 1 if head and head[-1].lower() in VOWELS else None


@functools.cache
def _lexicon() -> dict[str, str]:
    """The shipped lexicon (empty while none is shipped), read once."""
    return read_lexicon(LEXICON) if LEXICON.is_file() else {}


def read_lexicon(path: Path) -> dict[str, str]:
    """A lexicon file, each word's answer still unparsed (`_answer` reads it when the word is asked):
    a line per word, 'word options' ('глаза 01': the model's 0, then 1), a final 'ё' where the model
    reads the stressed е as ё, the word alone where the model gives it no stress; xz-compressed."""
    lines = lzma.decompress(path.read_bytes()).decode("utf-8").split("\n")
    return dict(line.partition(" ")[::2] for line in lines if line)


def _answer(code: str) -> tuple[tuple[int, ...], bool]:
    """A lexicon entry's options and ё: '01' -> ((0, 1), False), '1ё' -> ((1,), True)."""
    return tuple(int(c) for c in code.rstrip("ё")), code.endswith("ё")


def lexicon_entry(word: str, options: Sequence[int], yo: bool) -> str:
    """The lexicon's line for a word and its answer (model_stresses' form); options are single digits."""
    if any(not 0 <= i <= 9 for i in options):
        raise ValueError(f"{word}: the lexicon holds stresses 0-9 only, not {tuple(options)}")
    code = "".join(map(str, options)) + ("ё" if yo else "")
    return f"{word} {code}" if code else word


def looked_up(text: str) -> set[str]:
    """The words (lower case, hyphenated ones split) of `text` that no rule settles: what the lexicon
    holds or the model is asked."""
    parts = (_plain(part) for match in _WORD_RE.finditer(text) for part in match.group().split("-"))
    return {w for w in parts if _by_rule(w) == _ASK}


def model_stresses(words: list[str]) -> list[tuple[tuple[int, ...], bool]]:
    """silero-stress's answers for lower-case words of two or more vowels: their stress options
    (the model's choice, a homograph's other stresses, then any other of ALTERNATIVE_MIN or more of
    its probability) and whether it reads the stressed е as ё."""
    if not words:
        return []
    model = _load_model()
    import torch

    # The accentor is a small model: one thread is 5x faster than two on a busy 2-core machine, so it
    # runs single-threaded (as silero intends) and the caller's thread count is put back after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = []
        for i in range(0, len(words), _BATCH):
            out += _model_chunk(model, words[i : i + _BATCH])
    finally:
        torch.set_num_threads(threads)
    return out


def _model_chunk(model: _Silero, chunk: list[str]) -> list[tuple[tuple[int, ...], bool]]:
    accentor = model.accentor
    marked = accentor(" ".join(chunk)).split(" ")
    if len(marked) != len(chunk):  # the accentor split a word differently: ask word by word
        marked = [accentor(w) for w in chunk]
    # The probabilities behind its choice: silero-stress 1.5's (pinned) own method, which its
    # public call thresholds away (over its first 10 vowels). Words in its exception list are sure.
    probs = accentor._get_model_preds(chunk)[0].tolist()
    out = []
    for word, m, p in zip(chunk, marked, probs, strict=True):
        first = _plus_stress(m)
        options = [] if first is None else [first]
        options += sorted({_plus_stress(v) for v in model.homographs.get(word, ())} - {None, first})
        if word not in accentor.exceptions:
            likely = sorted(range(min(vowel_count(word), len(p))), key=lambda i: -p[i])
            options += [i for i in likely if p[i] >= ALTERNATIVE_MIN and i not in options]
        out.append((tuple(options), "+ё" in m))
    return out


def _plus_stress(marked: str) -> int | None:
    """silero marks stress with '+' before the vowel: 'мгл+ою' -> 1."""
    return vowel_count(marked[: marked.index("+")]) if "+" in marked else None


@dataclass(frozen=True)
class _Silero:
    """What scanning uses of silero-stress: its context-free accentor and its homograph list."""

    accentor: Any  # silero's AccentorNgram: accentor("слова") -> "слов+а"
    homographs: dict[str, list[str]]  # {'замок': ['з+амок', 'зам+ок']}


def _load_model() -> _Silero:
    """silero-stress, loaded once, on first use."""
    global _model, _load_seconds
    with _model_lock:
        if _model is None:
            start = time.perf_counter()
            import torch

            # silero sets torch's thread count to 1 and turns autograd off process-wide at load;
            # put both back so that training or generation in the same process is not slowed.
            threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
            try:
                _model = _read_silero()
            finally:
                torch.set_num_threads(threads)
                torch.set_grad_enabled(grad)
            _load_seconds = time.perf_counter() - start
    return _model


def _read_silero() -> _Silero:
    """silero-stress's model file read as its load_accentor("ru") reads it, less two things for its
    homograph solver, which scanning never runs: the ~1,500 phrase patterns it compiles (2 of the
    2.7 s that load_accentor takes here) stay uncompiled until used, and its BERT's embeddings are
    not dequantised. The accentor and the homograph list are the same objects either way."""
    from torch.package import PackageImporter

    spec = importlib.util.find_spec("silero_stress")  # found, not imported: its import sets 1 thread
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("silero-stress is not installed: pip install silero-stress==1.5")
    importer = PackageImporter(Path(spec.submodule_search_locations[0]) / "data" / "accentor.pt")
    unpickler = importer.Unpickler

    def lazy_patterns(*args, **kwargs):
        pickled = unpickler(*args, **kwargs)
        find_class = pickled.find_class
        pickled.find_class = lambda module, name: (
            _Pattern if (module, name) == ("re", "_compile") else find_class(module, name)
        )
        return pickled

    importer.Unpickler = lazy_patterns
    model = importer.load_pickle("accentor_models", "accentor")
    return _Silero(model.accentor, model.homosolver.homodict)


class _Pattern:
    """A pickled regular expression compiled on first use."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(re.compile(*self._args), name)


def model_load_seconds() -> float | None:
    """Seconds the stress model took to load (torch's import included if it was not yet imported);
    None while it is not loaded."""
    return _load_seconds


def prefetch(words: Iterable[str]) -> None:
    """Look up the stresses of many words in batches (e.g. a corpus's vocabulary) to fill the cache."""
    stress_options([w.lower() for w in words])
