"""A stanza's rhyme scheme: how close each two line endings sound, and the best lettering of all.

Exact rhymes (`rhyme.rhymes`: the same sound from the stressed vowel on) are what the generator
writes; poets from Pushkin to Blok also rhyme inexactly, and a reader hears those as rhymes too.
`closeness` scores two line endings from 1 (exact) down to 0 (no rhyme), the stressed vowel and the
ending (masculine, feminine, dactylic) always alike:

* feminine and dactylic: the same consonants after the stress with other unstressed vowels
  ("прекрасный / ясно", assonance of the ending) or a consonant voiced, or soft, in one and not in
  the other ("грозы / косы"); one consonant added at the end ("картинах / палантина"); the last
  consonant another ("Зарубин / рубит"); one consonant left out ("безмолвны / волны");
* masculine, closed: the final consonant voiced or soft otherwise, a consonant added at the end
  ("одежд / мятеж"), one left out, or a nasal for a nasal ("знаком / балкон");
* masculine, open against closed, the truncated rhyme: the open one's supporting consonant before the
  vowel in the closed one ("бегу / гул", "свеча / молчат"); against one closed by a й that is not
  heard ("стихи / стихий"); open against open without that support ("вода / луна"), the weakest;
* the same end word twice: a refrain, which a reader hears return (the generator never writes one).

`rhyme.rhyme_tails` also reads a line's rhyme word at its other stresses, at a price
(`READING_PRICES`), so that a rhyme can settle a stress the meter left open or the model got wrong.

The scheme is then chosen for the whole stanza at once, not pair by pair: every way of lettering
the lines is scored by the closeness of the lines that share a letter, less a price per pair
(`PAIR_PRICE`, so a pair counts only when it sounds close enough), and the best is kept (a beam
search over the lines in order). So a line whose ending is near two others goes with the nearer,
and a weak rhyme is kept only where nothing better claims its lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pushkin_lm.verse.meter import dominant, prosody
from pushkin_lm.verse.rhyme import (
    ALLOWED,
    ANY_VOWEL,
    READ,
    RHYME_WINDOW,
    SOFT,
    Tail,
    rhyme_tails,
    same_vowel,
    sounds_alike,
)

# Closeness of the inexact kinds, and the least closeness a pair must reach to share a letter:
# set on RIFMA's development slice as a whole (bench/scan_accuracy.py), never on single stanzas.
VOWELS_DIFFER, VOICING_DIFFERS, CONSONANT_ADDED, LAST_DIFFERS, CONSONANT_DROPPED = 0.8, 0.75, 0.7, 0.6, 0.55
TRUNCATED, CLOSED_BY_YOT, NASALS, UNSUPPORTED, SAME_WORD = 0.7, 0.8, 0.6, 0.45, 0.7
PAIR_PRICE = 0.58
# A rhyme word read with another stress than the line's reading: one the model allows it, at a
# price that lets a near rhyme settle it; any other vowel, where only an exact rhyme can (a
# stress the model got wrong: рука́вки, шлепо́к).
READING_PRICES = {READ: 0.0, ALLOWED: 0.15, ANY_VOWEL: 0.4}
BEAM = 32  # letterings kept while the lines are read in order
_SOUND_VOWELS = frozenset("аоуэиё")
_VOICELESS = str.maketrans("бвгджз", "пфктшс")
_NASALS = frozenset("мн")


def closeness(a: Tail | None, b: Tail | None) -> float:
    """How close two line endings sound, 1 exact to 0 no rhyme (see the module's docstring)."""
    if a is None or b is None or not same_vowel(a.sound[0], b.sound[0]):
        return 0.0
    if a.masculine != b.masculine or _syllables(a.sound) != _syllables(b.sound):
        return 0.0
    if a.word == b.word:  # a refrain's repeated word: heard as a rhyme, if not a made one
        return SAME_WORD
    if sounds_alike(a, b):
        return 1.0
    if a.masculine:
        return _masculine(a, b)
    return _post_tonic(a.sound[1:], b.sound[1:])


def _syllables(sound: str) -> int:
    return sum(c in _SOUND_VOWELS for c in sound)


def _consonants(sound: str) -> str:
    return "".join(c for c in sound if c not in _SOUND_VOWELS)


def _plain(consonants: str) -> str:
    """Consonants with their voicing and softness left out."""
    return consonants.translate(_VOICELESS).replace(SOFT, "")


def _one_more(short: str, long_: str) -> float:
    """How close two runs of consonants are where the longer has one more: at its end, or inside."""
    if len(long_) != len(short) + 1:
        return 0.0
    if long_[:-1] == short:
        return CONSONANT_ADDED
    return CONSONANT_DROPPED if any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_))) else 0.0


def _post_tonic(a: str, b: str) -> float:
    """A feminine or dactylic ending after the stressed vowel: its consonants compared."""
    ca, cb = _consonants(a), _consonants(b)
    if ca == cb:
        return VOWELS_DIFFER
    if _plain(ca) == _plain(cb):
        return VOICING_DIFFERS
    if one_more := _one_more(*sorted((ca, cb), key=len)):
        return one_more
    return LAST_DIFFERS if len(ca) == len(cb) > 1 and ca[:-1] == cb[:-1] else 0.0


def _masculine(a: Tail, b: Tail) -> float:
    coda_a, coda_b = a.sound[1:], b.sound[1:]
    if not coda_a and not coda_b:  # each ends in its vowel, or in a й that is not heard
        if a.open != b.open:  # стихи / стихий, мне / дней
            return CLOSED_BY_YOT if a.onset == b.onset else 0.0
        return VOICING_DIFFERS if _plain(a.onset) == _plain(b.onset) else UNSUPPORTED  # носки / мозги
    if not coda_a or not coda_b:  # truncated: the open one's support before the closed one's vowel
        closed, open_ = (a, b) if coda_a else (b, a)
        if not open_.open:  # closed by a й that is not heard: реко́й is no truncated знако́м
            return 0.0
        return TRUNCATED if len(closed.sound) == 2 and open_.onset == closed.onset != "" else 0.0
    if _plain(coda_a) == _plain(coda_b):
        return VOICING_DIFFERS
    if one_more := _one_more(*sorted((coda_a, coda_b), key=len)):
        return one_more
    return NASALS if {coda_a, coda_b} <= _NASALS and len(coda_a) == 1 else 0.0


@dataclass(frozen=True)
class _Lettering:
    """A lettering of the lines so far, as a chain back to the first line (so that a step costs the
    same however long the stanza): this line's group, and the groups still open to later lines."""

    score: float
    group: int | None  # this line's group; None: alone
    groups: int  # how many groups so far
    open: tuple[tuple[int, tuple[int, ...]], ...]  # (group, its lines): groups a later line may join
    before: _Lettering | None


def line_closeness(a: Sequence[tuple[Tail, int]], b: Sequence[tuple[Tail, int]]) -> tuple[float, int, int]:
    """How close two lines' endings come, each read as `rhyme_tails` offers it at the price of how
    it was come by (`READING_PRICES`), and which of the tails those are."""
    best = (0.0, 0, 0)
    for i, (x, tier_x) in enumerate(a):
        for j, (y, tier_y) in enumerate(b):
            near = closeness(x, y) - READING_PRICES[tier_x] - READING_PRICES[tier_y]
            best = max(best, (near, -i, -j))
    return best[0], -best[1], -best[2]


Near = Sequence[dict[int, float]]  # near[i][j]: how close lines i and j sound, for j within RHYME_WINDOW


def best_groups(near: Near) -> list[int | None]:
    """Each line's group in the best lettering of a stanza whose lines are `near[i][j]` close
    (None: a line alone). A letter stays open while all its lines are within RHYME_WINDOW of the
    line at hand, so each step weighs a few groups, and a stanza of any length costs its length."""
    beam = [_Lettering(0.0, None, 0, (), None)]
    for i in range(len(near)):
        grown = []
        for lettering in beam:
            kept = tuple((g, lines) for g, lines in lettering.open if lines[0] >= i - RHYME_WINDOW)
            grown.append(replace(lettering, group=None, open=kept, before=lettering))
            for g, lines in kept:
                if min(near[i].get(j, 0.0) for j in lines) >= PAIR_PRICE:
                    joined = tuple((h, (*ls, i) if h == g else ls) for h, ls in kept)
                    gain = max(near[i][j] for j in lines) - PAIR_PRICE
                    grown.append(_Lettering(lettering.score + gain, g, lettering.groups, joined, lettering))
            if any(near[i].get(j, 0.0) >= PAIR_PRICE for j in range(i + 1, i + RHYME_WINDOW + 1)):
                new = lettering.groups  # the first of a new letter, to be joined later
                grown.append(_Lettering(lettering.score, new, new + 1, (*kept, (new, (i,))), lettering))
        beam = sorted(grown, key=lambda x: -x.score)[:BEAM]
    return _groups_of(max(beam, key=lambda x: x.score))


def _groups_of(lettering: _Lettering) -> list[int | None]:
    """Each line's group along the chain, None for a group of one line."""
    chain: list[int | None] = []
    step: _Lettering | None = lettering
    while step is not None and step.before is not None:
        chain.append(step.group)
        step = step.before
    chain.reverse()
    sizes = Counter(chain)
    return [g if g is not None and sizes[g] > 1 else None for g in chain]


def rhyme_letters(lines: Sequence[str]) -> list[str | None]:
    """Each line's rhyme letter, or None for a line that rhymes with no other line.

    Letters go A, B, C, ... (A again after Z) in the order of each rhyme's first line, upper case for
    a feminine or dactylic ending, lower case masculine (as the line rhymes: see `line_closeness`).
    Each line's rhyme vowel is read in the stanza's dominant meter when the line fits it.
    """
    return [letter for letter, _ in rhymed(lines)]


def rhymed(lines: Sequence[str]) -> list[tuple[str | None, int | None]]:
    """Each line's rhyme letter (see `rhyme_letters`) and, where its rhyme reads its rhyme word with
    another stress than the line's reading, the syllable of that stress (else None)."""
    lines_prosody = [prosody(line) for line in lines]
    meter, feet = dominant(lines_prosody)
    tails = [rhyme_tails(p, meter, feet) for p in lines_prosody]
    near_lines = lambda i: range(max(0, i - RHYME_WINDOW), min(len(tails), i + RHYME_WINDOW + 1))  # noqa: E731
    pairs = [{j: line_closeness(a, tails[j]) for j in near_lines(i) if j != i} for i, a in enumerate(tails)]
    groups = best_groups([{j: near for j, (near, _, _) in row.items()} for row in pairs])
    names: dict[int, int] = {}
    out: list[tuple[str | None, int | None]] = []
    for i, g in enumerate(groups):
        if g is None:
            out.append((None, None))
            continue
        partner = max((j for j in pairs[i] if groups[j] == g), key=lambda j: pairs[i][j][0])
        tail, tier = tails[i][pairs[i][partner][1]]
        letter = chr(ord("A") + names.setdefault(g, len(names)) % 26)
        out.append((letter.lower() if tail.masculine else letter, None if tier == READ else tail.last))
    return out


def sound_near(line_a: str, line_b: str) -> bool:
    """Whether two lines' endings are near enough to share a letter in a scheme (`closeness`,
    their rhyme words read at their other stresses too): what a line that must not rhyme avoids."""
    near, _, _ = line_closeness(rhyme_tails(prosody(line_a)), rhyme_tails(prosody(line_b)))
    return near >= PAIR_PRICE


def rhyme_scheme(lines: Sequence[str]) -> str:
    """The stanza's rhyme scheme, e.g. "AbAb"; "-" for a line that rhymes with no other line."""
    return "".join(letter or "-" for letter in rhyme_letters(lines))
