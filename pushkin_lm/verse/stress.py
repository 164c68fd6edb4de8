"""Word stress: a few sure rules first, then the silero-stress model for everything else.

Rules, in order: a word without vowels has no stress; a stress mark (U+0301) already in the text
wins; ``ё`` is always stressed; a one-vowel word is stressed on its vowel. Every other word goes
to silero-stress's context-free accentor (an n-gram model over ~4M word forms). Words the model
is not sure of get no stress and are treated as metrically free.

Homographs ("замок", "стоит", "руки") have two stresses in silero's own homograph list; a word
keeps both as options, the model's context-free choice first, and the meter picks the one the
line needs, as a reader does (see `meter`).

The model (~40 MB, shipped inside the pip package) loads on first use, never at import: plain
generation does not pay for it. Results are cached per word, and unseen words of a line go to the
model in one batch.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

VOWELS = frozenset("аеёиоуыэюя")
ACUTE = "\u0301"
# A word: Cyrillic letters, maybe stress marks inside, maybe hyphenated (split into parts later).
_WORD_RE = re.compile(r"[а-яё\u0301]+(?:-[а-яё\u0301]+)*", re.IGNORECASE)
# Hyphen-attached particles ("что-то", "скажи-ка") are unstressed.
_POSTFIX_PARTICLES = frozenset("то ка таки де с".split())
_CACHE_LIMIT = 500_000  # words; cleared when full: a generator may invent unbounded vocabulary
_BATCH = 512  # words per model call

_cache: dict[str, tuple[int, ...]] = {}
_model_lock = threading.Lock()
_accentor = None
_homographs: dict[str, tuple[int, ...]] = {}
_read_yo: set[str] = set()  # words whose stressed е the model reads as ё ("темной" -> "тёмной")
_load_seconds: float | None = None
_ASK = -1  # _by_rule's answer when the model must decide


@dataclass(frozen=True)
class Word:
    """One word (or hyphen-separated part) of a line, as the prosody rules see it."""

    start: int  # offset of the word in the line's text
    text: str  # lower case, stress marks removed
    vowels: tuple[int, ...]  # offsets of its vowels inside `text`
    stress: int | None  # index into `vowels` of the stressed one; None: no vowels or unknown
    options: tuple[int, ...]  # every stress the word may take: (stress,), or a homograph's two
    particle: bool  # a hyphen-attached particle ("-то"): never stressed
    marked: bool  # the text itself marks its stress with U+0301


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
    """The stresses each lower-case word may take, as indices (0-based) among its vowels.

    One index for most words, two for a homograph (the model's context-free choice first), none
    for a word without vowels or one whose stress the model cannot decide. Unseen words go to the
    model in one batch, so scoring many lines costs one call per batch of new words.
    """
    missing = [w for w in dict.fromkeys(words) if w not in _cache]
    if missing:
        found = {w: _by_rule(w) for w in missing}
        unknown = [w for w, s in found.items() if s == _ASK]
        found.update(zip(unknown, _model_stresses(unknown), strict=True))
        if len(_cache) + len(found) > _CACHE_LIMIT:
            _cache.clear()
            _read_yo.clear()
        _cache.update({w: _options(w, s) for w, s in found.items()})
    return [_cache[w] for w in words]


def _options(word: str, stress: int | None) -> tuple[int, ...]:
    first = () if stress is None else (stress,)
    return first + tuple(i for i in _homographs.get(word, ()) if i != stress)


def reads_yo(word: str) -> bool:
    """Whether the model reads the stressed е of a looked-up word as ё (texts often spell ё as е)."""
    return word in _read_yo


def word_stress(word: str) -> int | None:
    """Index of the stressed vowel of one word (any case; a U+0301 mark in it wins); None: no
    vowels or unknown."""
    if ACUTE in word:
        return _marked_stress(word)
    options = stress_options([word.lower()])[0]
    return options[0] if options else None


def line_words(text: str) -> list[Word]:
    """The words of a line with their stresses; hyphenated words split into their parts."""
    parts = []  # (start, text as written, particle?)
    for match in _WORD_RE.finditer(text):
        offset = match.start()
        for i, part in enumerate(match.group().split("-")):
            parts.append((offset, part, i > 0 and part.lower() in _POSTFIX_PARTICLES))
            offset += len(part) + 1
    plain = [part.lower().replace(ACUTE, "") for _, part, _ in parts]
    found = iter(
        stress_options([w for w, (_, part, _) in zip(plain, parts, strict=True) if ACUTE not in part])
    )
    words = []
    for (start, part, particle), lower in zip(parts, plain, strict=True):
        marked = ACUTE in part
        options = next(found) if not marked else (_marked_stress(part),)
        options = () if particle or options == (None,) else options
        vowels = tuple(i for i, c in enumerate(lower) if c in VOWELS)
        words.append(Word(start, lower, vowels, options[0] if options else None, options, particle, marked))
    return words


def _marked_stress(part: str) -> int | None:
    """A stress mark written in the text: the vowel right before the first U+0301."""
    head = part[: part.index(ACUTE)]
    return vowel_count(head) - 1 if head and head[-1].lower() in VOWELS else None


def _model_stresses(words: list[str]) -> list[int | None]:
    if not words:
        return []
    accentor = _load_model()
    import torch

    # The accentor is a small model: one thread is 5x faster than two on a busy 2-core machine, so it
    # runs single-threaded (as silero intends) and the caller's thread count is put back after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out: list[int | None] = []
        for i in range(0, len(words), _BATCH):
            chunk = words[i : i + _BATCH]
            marked = accentor(" ".join(chunk)).split(" ")
            if len(marked) != len(chunk):  # the accentor split a word differently: ask word by word
                marked = [accentor(w) for w in chunk]
            out.extend(_plus_stress(m) for m in marked)
            _read_yo.update(w for w, m in zip(chunk, marked, strict=True) if "+ё" in m)
    finally:
        torch.set_num_threads(threads)
    return out


def _plus_stress(marked: str) -> int | None:
    """silero marks stress with '+' before the vowel: 'мгл+ою' -> 1."""
    return vowel_count(marked[: marked.index("+")]) if "+" in marked else None


def _load_model():
    """silero-stress's context-free accentor (and its homograph list), loaded once, on first use."""
    global _accentor, _homographs, _load_seconds
    with _model_lock:
        if _accentor is None:
            start = time.perf_counter()
            import torch

            # silero sets torch's thread count to 1 and turns autograd off process-wide at load;
            # put both back so that training or generation in the same process is not slowed.
            threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
            try:
                from silero_stress import load_accentor

                model = load_accentor("ru")
                _homographs = _homograph_stresses(model.homosolver.homodict)
                _accentor = model.accentor
            finally:
                torch.set_num_threads(threads)
                torch.set_grad_enabled(grad)
            _load_seconds = time.perf_counter() - start
    return _accentor


def _homograph_stresses(homodict: dict[str, list[str]]) -> dict[str, tuple[int, ...]]:
    """silero's homographs, {'замок': ['з+амок', 'зам+ок']}, as stress indices; ё/е pairs that
    differ in spelling only ("все"/"всё") keep one stress and are dropped."""
    out = {}
    for word, variants in homodict.items():
        stress_set = {_plus_stress(v) for v in variants} - {None}
        if len(stress_set) > 1:
            out[word] = tuple(sorted(stress_set))
    return out


def model_load_seconds() -> float | None:
    """Seconds the stress model took to load (torch's import included if it was not yet imported);
    None while it is not loaded."""
    return _load_seconds


def prefetch(words: Iterable[str]) -> None:
    """Look up the stresses of many words in batches (e.g. a corpus's vocabulary) to fill the cache."""
    stress_options([w.lower() for w in words])
