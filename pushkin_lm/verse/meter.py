"""The meter of a line: which syllabo-tonic meter and how many feet its stresses allow.

A line is a row of syllables (one per vowel), each of one of three kinds:

* STRESS: the stressed syllable of a word of two or more syllables;
* WEAK: any other syllable of such a word;
* FREE: a one-syllable word, a hyphen-attached particle ("-то"), a polysyllabic function word
  that verse may leave unstressed ("между", "чтобы"), or a word whose stress is unknown. Russian
  prosody lets these fall on strong or weak positions alike.

The last stress of the line (its rhyme vowel; a line-final enclitic "же", "ли", "бы" leans on the
word before) fixes the meter's last strong position. Whatever follows it is the ending: none
masculine, one syllable feminine, two dactylic, more hyperdactylic. A meter with period p (2 or 3
syllables a foot) and anacrusis a (weak syllables before the first strong one) fits the line when

1. the last stress falls on a strong position: (last - a) % p == 0, so feet = (last - a) // p + 1
   and the syllable count is a + (feet - 1) * p + 1 + ending (iamb 4: 8 masculine, 9 feminine);
2. no STRESS falls on a weak position: a polysyllabic word's stress breaks the meter there;
3. ictuses may go unstressed (pyrrhic feet, normal in Russian iambs), but a ternary meter, which
   keeps its ictuses far more strictly, tolerates at most one such miss per line.

Of the meters that fit, the cheapest reading wins: a missed ictus costs 1 in a binary meter and
3 in a ternary one (binary lines miss a quarter of their ictuses, ternary ones rarely any); a
ternary reading pays 1 more, so that a line whose stresses fit both (a trochee with a pyrrhic
foot also reads as a dactyl) goes to the binary meter, by far the more common; and reading a
line-final homograph against the stress model's own choice costs 1. Ties go to the model's
stress, then to the order of METERS (iamb, trochee, amphibrach, anapest, dactyl).

Meter belongs to a poem more than to a line: `scan_line(text, meter, feet)` reads a line in the
given meter (and number of feet) whenever it fits, and `scan_stanza` and `rhyme_scheme` read each
line in its stanza's dominant meter (see `dominant`).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pushkin_lm.verse.stress import ACUTE, Word, line_words, settled_options, vowel_count

WEAK, FREE, STRESS = 0, 1, 2
ALTERNATIVE_COST = 1  # reading a line-final homograph against the model's choice


@dataclass(frozen=True)
class Meter:
    name: str
    period: int  # syllables per foot
    anacrusis: int  # syllables before the first strong position

    @property
    def max_misses(self) -> int | None:
        return None if self.period == 2 else 1

    @property
    def miss_cost(self) -> int:
        return 1 if self.period == 2 else 3

    @property
    def base_cost(self) -> int:
        return 0 if self.period == 2 else 1


METERS: dict[str, Meter] = {
    m.name: m
    for m in (
        Meter("iamb", 2, 1),
        Meter("trochee", 2, 0),
        Meter("amphibrach", 3, 1),
        Meter("anapest", 3, 2),
        Meter("dactyl", 3, 0),
    )
}
ENDINGS = ("masculine", "feminine", "dactylic", "hyperdactylic")  # by syllables after the last stress

# Line-final enclitics: the rhyme stress falls on the word before them.
ENCLITICS = frozenset("же ж ли ль бы б".split())
# Polysyllabic prepositions, conjunctions and particles that verse often leaves unstressed.
FUNCTION_WORDS = frozenset(
    "между перед передо через чрез около возле после кроме ради подле против чтобы если или либо "
    "будто словно даже тоже также только хотя пока нибудь".split()
)


@dataclass(frozen=True)
class LineScan:
    """A scanned line. `stressed` is the text with U+0301 after the stressed vowel of each word of
    two or more syllables, except ё, always stressed and never marked; one-syllable words get no
    mark, as in Russian dictionaries. Only Cyrillic words count: a Latin word adds no syllables."""

    text: str
    stressed: str
    syllables: int
    meter: str | None  # None: no meter fits
    feet: int | None
    ending: str | None  # None: no stressed syllable found


@dataclass(frozen=True)
class Prosody:
    """What the meter and rhyme rules need to know about a line."""

    words: tuple[Word, ...]
    bases: tuple[int, ...]  # syllable index of each word's first vowel
    kinds: tuple[int, ...]  # WEAK / FREE / STRESS per syllable; a homograph's options are FREE
    rhyme_word: int | None  # index into `words` of the word that carries the final stress
    lasts: tuple[int, ...]  # syllable index of the final stress, one per option of that word


@dataclass(frozen=True)
class Reading:
    """One way to read a line: meter, feet and which syllable carries the final stress."""

    meter: Meter
    feet: int
    last: int
    missed: int  # ictuses left unstressed
    alternative: bool = False  # a line-final homograph read against the model's choice

    @property
    def cost(self) -> int:
        return self.missed * self.meter.miss_cost + self.meter.base_cost + ALTERNATIVE_COST * self.alternative

    def strong(self, i: int) -> bool:
        a, p = self.meter.anacrusis, self.meter.period
        return i >= a and (i - a) % p == 0


def prosody(text: str) -> Prosody:
    """Syllable kinds and the possible final stresses of a line."""
    words = tuple(line_words(text))
    kinds: list[int] = []
    bases = []
    for w in words:
        bases.append(len(kinds))
        kinds.extend(_word_kinds(w))
    k = _rhyme_word(words)
    options = () if k is None else (0,) if len(words[k].vowels) == 1 else words[k].options
    lasts = tuple(bases[k] + i for i in options) if k is not None else ()
    return Prosody(words, tuple(bases), tuple(kinds), k, lasts)


def _word_kinds(w: Word) -> list[int]:
    n = len(w.vowels)
    if n < 2 or not w.options or w.text in FUNCTION_WORDS:
        return [FREE] * n
    kinds = [WEAK] * n
    for i in w.options:
        kinds[i] = STRESS if len(w.options) == 1 else FREE
    return kinds


def _rhyme_word(words: tuple[Word, ...]) -> int | None:
    """Index of the word carrying the line's last stress: the last word with a vowel that is not an
    enclitic or particle (unless nothing else is left)."""
    voiced = [i for i, w in enumerate(words) if w.vowels]
    for i in reversed(voiced):
        if not (words[i].particle or words[i].text in ENCLITICS):
            return i
    return voiced[-1] if voiced else None


def _with_last(line: Prosody, last: int) -> tuple[int, ...]:
    """The line's kinds once its final stress is fixed at `last`: the rest of that word is weak."""
    k = line.rhyme_word
    assert k is not None
    n = len(line.words[k].vowels)
    first = line.bases[k]
    word = [STRESS if first + i == last else WEAK for i in range(n)]
    return line.kinds[:first] + tuple(word) + line.kinds[first + n :]


def misses(kinds: tuple[int, ...], last: int, meter: Meter) -> int | None:
    """Missed ictuses when the line is read in `meter` with its last strong position at `last`;
    None when the meter does not fit (see the module docstring)."""
    p, a = meter.period, meter.anacrusis
    if last < a or (last - a) % p:
        return None
    missed = 0
    for i in range(last):
        strong = i >= a and (i - a) % p == 0
        if kinds[i] == STRESS and not strong:
            return None
        missed += strong and kinds[i] == WEAK
    if meter.max_misses is not None and missed > meter.max_misses:
        return None
    return missed


def readings(line: Prosody, meters: tuple[Meter, ...] = tuple(METERS.values())) -> list[Reading]:
    """Every (meter, final stress) reading the line allows, in order of preference on equal cost:
    the model's own stress of the last word first, then METERS' order."""
    out = []
    for n, last in enumerate(line.lasts):
        kinds = _with_last(line, last)
        for meter in meters:
            missed = misses(kinds, last, meter)
            if missed is not None:
                feet = (last - meter.anacrusis) // meter.period + 1
                out.append(Reading(meter, feet, last, missed, alternative=n > 0))
    return out


def best_reading(line: Prosody, meter: str | None = None, feet: int | None = None) -> Reading | None:
    """The cheapest reading (see the module docstring); in `meter` with `feet` feet if the line
    fits that, else in `meter` with any feet if it fits that, else in any meter; None if none fits."""
    found = readings(line)
    in_meter = [r for r in found if r.meter.name == meter]
    in_size = [r for r in in_meter if r.feet == feet]
    pool = in_size or in_meter or found
    return min(pool, key=lambda r: r.cost) if pool else None


def dominant(lines: Sequence[Prosody]) -> tuple[str | None, int | None]:
    """The most common meter among the lines' own best readings, and its most common number of
    feet (ties: METERS' order, fewer feet); (None, None) when no line has a meter."""
    best = [r for r in map(best_reading, lines) if r is not None]
    if not best:
        return None, None
    meters = Counter(r.meter.name for r in best)
    meter = max(meters, key=lambda m: (meters[m], -list(METERS).index(m)))
    feet = Counter(r.feet for r in best if r.meter.name == meter)
    return meter, max(feet, key=lambda f: (feet[f], -f))


def ending_of(syllables: int, last: int | None) -> str | None:
    """'masculine', 'feminine', 'dactylic' or 'hyperdactylic' by the syllables after the last stress."""
    if last is None:
        return None
    return ENDINGS[min(syllables - 1 - last, len(ENDINGS) - 1)]


def final_stress(line: Prosody, meter: str | None = None, feet: int | None = None) -> int | None:
    """Syllable index of the line's rhyme vowel: as the best reading has it, else the model's."""
    reading = best_reading(line, meter, feet)
    return reading.last if reading else (line.lasts[0] if line.lasts else None)


def render_stress(text: str, line: Prosody, reading: Reading | None) -> str:
    """`text` with U+0301 after the stressed vowel of each polysyllabic word (not ё, not a word the
    text already marks); a homograph gets the option the reading puts on a strong position."""
    cuts = []
    for w, base in zip(line.words, line.bases, strict=True):
        stress = _chosen_stress(w, base, reading)
        if len(w.vowels) > 1 and stress is not None and not w.marked and w.text[w.vowels[stress]] != "ё":
            cuts.append(w.spots[stress] + 1)
    pieces, prev = [], 0
    for cut in sorted(cuts):
        pieces += [text[prev:cut], ACUTE]
        prev = cut
    return "".join(pieces) + text[prev:]


def _chosen_stress(w: Word, base: int, reading: Reading | None) -> int | None:
    """A homograph's stress as the reading has it: on the final stress, else on a strong position."""
    if reading is None or len(w.options) < 2:
        return w.stress
    at_end = [i for i in w.options if base + i == reading.last]
    strong = [i for i in w.options if reading.strong(base + i)]
    return (at_end or strong or [w.stress])[0]


def with_final_stress(line: Prosody, last: int) -> Prosody:
    """The line with its rhyme word stressed so that the final stress falls on syllable `last`."""
    k = line.rhyme_word
    assert k is not None
    stress = last - line.bases[k]
    words = (*line.words[:k], replace(line.words[k], stress=stress, options=(stress,)), *line.words[k + 1 :])
    return replace(line, words=words, kinds=_with_last(line, last), lasts=(last,))


def scan_line(
    text: str, meter: str | None = None, feet: int | None = None, rhyme_at: int | None = None
) -> LineScan:
    """Syllables, stresses, meter, feet and ending of one line of Russian verse. `meter` ('iamb',
    ...) and `feet`: read the line so whenever it fits, e.g. in the meter of its poem; `rhyme_at`:
    the syllable its rhyme puts the final stress on, where that is another than the line's own."""
    line = prosody(text)
    if rhyme_at is not None and best_reading(reread := with_final_stress(line, rhyme_at)) is not None:
        line = reread  # the rhyme settles the stress, where the line can still be read so
    reading = best_reading(line, meter, feet)
    last = reading.last if reading else (line.lasts[0] if line.lasts else None)
    return LineScan(
        text=text,
        stressed=render_stress(text, line, reading),
        syllables=len(line.kinds),
        meter=reading.meter.name if reading else None,
        feet=reading.feet if reading else None,
        ending=ending_of(len(line.kinds), last),
    )


def fits_meter(text: str, meter: str, feet: int) -> bool:
    """Whether the line can be read in `meter` ('iamb', 'trochee', ...) with exactly `feet` feet,
    whatever its ending. Word stresses are cached, so this is cheap for lines of known words."""
    return any(r.feet == feet for r in readings(prosody(text), (METERS[meter],)))


def breaks_meter(head: str, meter: str) -> bool:
    """Whether the last word of `head`, a line's beginning up to a space, puts a polysyllabic
    word's one stress on a weak position of `meter`: then no line that begins so scans in it,
    whatever follows (rule 2 of the module docstring). Only stresses the rules and the lexicon
    settle count (`settled_options`; any other word is free), and only the text after the last
    space is read, so a generator may ask at every word it writes and drop a line as soon as it
    cannot scan."""
    body = head.rstrip()
    cut = body.rfind(" ") + 1
    return _tail_breaks(body[cut:], vowel_count(body[:cut]), meter)


# A generator asks of the same words at the same syllables again and again; bounded, as its words are not.
@functools.lru_cache(maxsize=1 << 16)
def _tail_breaks(tail: str, base: int, meter: str) -> bool:
    m = METERS[meter]
    kinds = [kind for word in line_words(tail, settled_options) for kind in _word_kinds(word)]
    return any(
        kind == STRESS and (i < m.anacrusis or (i - m.anacrusis) % m.period)
        for i, kind in enumerate(kinds, start=base)
    )
