"""Verse in a fixed form: every line in the meter, every rhyme where the scheme puts it.

    for line in generate_form(decoder, vocab, "", SampleConfig(seed=1), "onegin", "iamb4"):
        print(line, end="")

A line is written in rounds (docs/experiments.md, round 9). A round forks the decoder into
LANES lanes at the start of the line; each lane samples, with the sampler's own settings, up to
its newline, and is dropped as soon as it has more syllables than the line may have, or a word
whose stress breaks the meter (`pushkin_lm.verse.breaks_meter`). The finished
lines are checked with `pushkin_lm.verse`: meter and feet, the ending the scheme letter asks for
(capital feminine, lower case masculine), a rhyme with the line's partner (the nearest earlier
line of its letter) and none with the other letters' lines, or the stanza would read as another
scheme. Of those that pass in the first MIN_ROUNDS rounds (in the first alone, if ENOUGH_LINES
pass there; later, in the first round that has one), the one the model finds likeliest per
character is fed to the decoder and yielded, a line that does not open with an earlier line's
first two words before one that does.

The model seldom rhymes on its own (about one line in sixty in the meter rhymes with a given
partner), so the rhyme word of a line that must rhyme is chosen first: every word the model has
written in the stanza's candidate lines goes into a pool, by rhyme key; each lane is given pool
words that rhyme with the partner and fit the line's last foot, writes a head of the right number
of syllables (not ending on an adjective, which the forced word would seldom agree with) and ends
on its word (`pushkin_lm.sampling.lines`), and the model's probability of the whole
line picks among them. A line that opens a rhyme is taken, while rounds allow, from those whose
rhyme the pool can already answer. After MAX_ROUNDS without a pass a line in the meter is kept,
rhyme or not.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.lines import LANES, Endings, sample_lines
from pushkin_lm.sampling.sample import check_prompt, start_context
from pushkin_lm.verse import breaks_meter, fits_meter, prefetch, rhyme_key, rhymes, vowel_count, word_stress
from pushkin_lm.verse.forms import DEFAULT_METER, LineMeter, parse_meter, stanza_scheme
from pushkin_lm.verse.meter import ENCLITICS
from pushkin_lm.verse.rhyme import RHYME_WINDOW  # how far verse.rhyme looks for partners
from pushkin_lm.verse.scheme import sound_near

MIN_SEEN = 2  # a word the model wrote once may be a slip; twice, it is more likely a word
# Rounds whose lines are compared before one is chosen, unless the first already passes
# ENOUGH_LINES. Adjacent adjective-noun pairs that agree in Onegin stanzas of seeds 1-100
# (bench/verse_quality.py; docs/results.md, "Verse that reads"): the likeliest line of the first
# round that passes, by its total log-probability, 78 %; per character, of two rounds, 82-83 %, and
# the same where a first round of four passing lines is taken alone, which saves its second round.
# The total favours short lines of short common words.
MIN_ROUNDS = 2
ENOUGH_LINES = 4
ANSWERABLE_ROUNDS = 6  # rounds spent looking for a line whose rhyme the pool can answer
MAX_ROUNDS = 40  # rounds of LANES candidates for one line before the rhyme is given up
_WORD = re.compile(r"[а-яё]+", re.IGNORECASE)
# The endings of adjectives and possessives («бесплодной», «мою»), and of some nouns too. A lane
# writes such a word before it knows which pool word it will rhyme on, and the noun then forced
# after it agreed with it in half of such pairs (Onegin stanzas of seeds 1-100 by bench/language.py;
# elsewhere in the lines 87 %). So a rhyme word never follows one at once: agreement over those
# stanzas rose from 83.1 to 89.4 %, for 3 % more rounds (docs/results.md, "Verse that reads").
ADJECTIVE_END = re.compile(
    r"(?:ый|ий|ой|ая|яя|ое|ее|ые|ие|ых|их|ую|юю|ым|им|ого|его|ому|ему|ыми|ими|ей|ою|ею) $", re.IGNORECASE
)
# Prepositions and conjunctions: a line does not end on one, and a rhyme on one ("твои / и") is no rhyme.
WEAK_ENDS = frozenset(
    "и а но да не ни в во на за под подо над с со к ко о об обо от по из у до для без при про или иль "
    "чтоб чтобы".split()
)
# Nor an enclitic: it leans on the word before, which then carries the rhyme ("мольбы / ... бы").
NO_RHYME = WEAK_ENDS | ENCLITICS


def generate_form(
    decoder: Decoder,
    vocab: CharVocab,
    prompt: str,
    settings: SampleConfig,
    form: str,
    meter: str = DEFAULT_METER,
) -> Iterator[str]:
    """The rest of a stanza of `form` in `meter` that continues `prompt`, a line at a time.

    The prompt's lines after its last blank line are the stanza's first lines; a last line
    without its newline is completed. Each piece yielded ends with a newline. The same
    settings.seed gives the same stanza. What cannot be written is refused here, before the
    first line is asked for (so that a command refuses a prompt before it echoes it).
    """
    scheme, size = stanza_scheme(form), parse_meter(meter)
    check_prompt(vocab, prompt)
    if "\n" not in vocab.chars:
        raise PushkinLMError("this model's vocabulary has no newline, so it cannot write lines")
    lines, partial = _stanza_lines(prompt)
    if len(lines) >= len(scheme):
        raise PushkinLMError(
            f"the prompt already has {len(lines)} lines, and the {form} stanza has {len(scheme)}; "
            "give a shorter prompt"
        )
    return _write_stanza(decoder, vocab, prompt, settings, scheme, size)


def _write_stanza(
    decoder: Decoder, vocab: CharVocab, prompt: str, settings: SampleConfig, scheme: str, size: LineMeter
) -> Iterator[str]:
    generator = torch.Generator()
    generator.manual_seed(settings.seed if settings.seed is not None else torch.seed())
    lines, partial = _stanza_lines(prompt)
    logits = decoder.read(vocab.encode(start_context(vocab) + prompt))
    pool = _Pool()
    pool.add(lines)
    for index in range(len(lines), len(scheme)):
        slot = _Slot(scheme, index, size, lines)
        line = _next_line(decoder, vocab, logits, settings, generator, partial, slot, pool)
        piece = line[len(partial) :] + "\n"
        for char_id in vocab.encode(piece):
            logits = decoder.step(char_id)
        lines.append(line)
        partial = ""
        yield piece


def _stanza_lines(prompt: str) -> tuple[list[str], str]:
    """The prompt's complete lines after its last blank line (or poem separator): the stanza so
    far; and the text after its last newline, a line that the first generated line completes."""
    *complete, partial = prompt.split("\n")
    lines: list[str] = []
    for line in complete:
        lines = [] if not line.strip() or line.strip() == "</s>" else [*lines, line]
    return lines, partial


@dataclass(frozen=True)
class _Slot:
    """What the line at `index` of a stanza must be, given the lines before it."""

    scheme: str
    index: int
    meter: LineMeter
    before: list[str]

    @property
    def feminine(self) -> bool:
        return self.scheme[self.index].isupper()

    @property
    def partner(self) -> str | None:
        """The nearest earlier line of the same letter: the one this line must rhyme with."""
        letter = self.scheme[self.index]
        earlier = [j for j in range(self.index) if self.scheme[j] == letter]
        return self.before[earlier[-1]] if earlier else None

    def accepts(self, line: str) -> bool:
        """In the meter, with the scheme's ending, rhyming with its partner and near no other line."""
        return self.in_meter(line) and self.fits_scheme(line)

    def fits_scheme(self, line: str) -> bool:
        """`accepts` for a line already in the meter: rhyming with its partner, near no other line,
        and not ending on a preposition or conjunction."""
        if _WORD.findall(line)[-1].lower() in WEAK_ENDS:
            return False
        partner = self.partner
        if partner is not None and not rhymes(partner, line):
            return False
        letter = self.scheme[self.index]
        others = range(max(0, self.index - RHYME_WINDOW), self.index)
        # nor near another letter's line, as `scan` would hear it (an inexact rhyme joins letters)
        return not any(self.scheme[j] != letter and sound_near(self.before[j], line) for j in others)

    @property
    def opens_rhyme(self) -> bool:
        """Whether a later line must rhyme with this one."""
        return self.scheme[self.index] in self.scheme[self.index + 1 :]

    def in_meter(self, line: str) -> bool:
        """In the meter with the scheme's ending: the syllable count fixes the ending of a line
        whose last stress is on the last strong position."""
        size = self.meter
        return vowel_count(line) == size.syllables(self.feminine) and fits_meter(line, size.name, size.feet)

    def may_scan(self, head: str) -> bool:
        """Whether a line that begins with `head` (up to a word's end) may still be in the meter."""
        return not breaks_meter(head, self.meter.name)

    def repeats_opening(self, line: str) -> bool:
        """Whether `line` opens with the first two words of an earlier line of the stanza. A
        model likes to copy what it has just read (per character «В душе моей» is likely once it
        has been written), and Pushkin's stanzas seldom do it (1 % of lines, bench/verse_quality.py)."""
        opening = _opening(line)
        return len(opening) == 2 and opening in self._openings

    @cached_property
    def _openings(self) -> set[tuple[str, ...]]:
        """The openings of the lines before this one, read once for all its candidates."""
        return {_opening(earlier) for earlier in self.before}

    def head_syllables(self, word: str) -> int | None:
        """Syllables before `word` as this line's last word; None if its stress or its syllables
        after the stress do not fit the line's last foot."""
        stress, vowels = word_stress(word), vowel_count(word)
        last_strong = self.meter.syllables(False) - 1
        if stress is None or vowels - stress - 1 != self.feminine or stress > last_strong - 1:
            return None
        return last_strong - stress


class _Pool:
    """Every word the model has written in this stanza's candidate lines, by rhyme key: the words
    a line that must rhyme may end on. A word keeps a capital where the model wrote it with one
    inside a sentence (a name: «Татьяна»), not where a line or a sentence begins with it («Ты
    знал? Если бы…»)."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.by_key: dict[str, dict[str, None]] = {}  # dicts, not sets: a seed gives one order
        self.names: set[str] = set()  # lower-cased words written with a capital inside a sentence

    def add(self, lines: Iterable[str]) -> None:
        written = list(lines)
        words = [w.lower() for line in written for w in _WORD.findall(line)]
        self.names.update(name for line in written for name in _names(line))
        new = [w for w in dict.fromkeys(words) if w not in self.count]
        prefetch(new)  # one stress-model call for the round's new words
        for word in new:
            self.by_key.setdefault(rhyme_key(word), {})[word] = None
        self.count.update(words)

    def rhymes_for(self, line: str, seen: int = 1) -> list[str]:
        """Words seen at least `seen` times that rhyme with `line`'s last word, not that word,
        names capitalised."""
        found = _WORD.findall(line)
        words = self.by_key.get(rhyme_key(line), {})
        last = found[-1].lower() if found else ""
        chosen = [w for w in words if w != last and w not in NO_RHYME and self.count[w] >= seen]
        return [w.capitalize() if w in self.names else w for w in chosen]


def _may_rhyme_after(head: str) -> bool:
    """Whether a lane may take its rhyme word after `head`: not right after a word that ends as an
    adjective or a possessive does (see ADJECTIVE_END)."""
    return not ADJECTIVE_END.search(head)


def _opening(line: str) -> tuple[str, ...]:
    """The first two words of `line`, lower-cased."""
    return tuple(word.lower() for word in _WORD.findall(line)[:2])


def _names(line: str) -> list[str]:
    """The lower-cased words of `line` written with a capital inside a sentence: neither its first
    word nor one after a sentence's end (dashes and quotes before a word do not count)."""
    names = []
    for match in _WORD.finditer(line):
        before = line[: match.start()].rstrip(" —–-«»\"'(")
        if match[0][0].isupper() and before and before[-1] not in ".!?…":
            names.append(match[0].lower())
    return names


def _next_line(
    decoder: Decoder,
    vocab: CharVocab,
    logits: torch.Tensor,
    settings: SampleConfig,
    generator: torch.Generator,
    partial: str,
    slot: _Slot,
    pool: _Pool,
) -> str:
    """One line for `slot`: rounds of lane samples until one passes (see the module docstring)."""
    in_meter: list[str] = []
    passed: list[tuple[bool, float, str]] = []  # (opens anew, log-probability per character, line)
    max_syllables = slot.meter.syllables(slot.feminine)
    for turn in range(MAX_ROUNDS):
        endings = _endings(slot, pool) if slot.partner else [None] * LANES
        candidates = sample_lines(
            decoder, vocab, logits, settings, generator, partial, max_syllables, endings,
            slot.may_scan, _may_rhyme_after,
        )  # fmt: skip
        pool.add(text for text, _ in candidates)
        # the model's log-probability per character of what each lane added to `partial`
        written = [(score / max(1, len(text) - len(partial)), text) for text, score in candidates]
        metered = [(per_char, t) for per_char, t in written if slot.in_meter(t)]  # scanned once
        fitting = [(per_char, t) for per_char, t in metered if slot.fits_scheme(t)]
        passed += [(not slot.repeats_opening(t), per_char, t) for per_char, t in fitting]
        # A line that opens a rhyme should be one the pool can answer, while rounds are cheap.
        answerable = [p for p in passed if not slot.opens_rhyme or _rhyme_words(slot, pool, p[-1])]
        compared = turn + 1 >= MIN_ROUNDS or len(answerable) >= ENOUGH_LINES
        if compared and (answerable or passed and turn >= ANSWERABLE_ROUNDS):
            return max(answerable or passed)[-1]  # the likeliest line per character that opens anew
        in_meter += [text for _, text in metered]
    if in_meter:  # forty rounds without a rhyme: the meter, at least
        return in_meter[int(torch.randint(len(in_meter), (1,), generator=generator))]
    meter = slot.meter
    name = f"{meter.name}{meter.feet}"
    fix = (
        "try another --seed"
        if name == DEFAULT_METER
        else f"choose another --meter, e.g. {DEFAULT_METER}, or a model trained on such verse"
    )
    raise PushkinLMError(
        f"none of {MAX_ROUNDS * LANES} lines this model wrote scans as {name} "
        f"({max_syllables} syllables); {fix}"
    )


def _rhyme_words(slot: _Slot, pool: _Pool, line: str, seen: int = 1) -> dict[int, list[str]]:
    """Pool words seen `seen` times that rhyme with `line` and can end a line of `slot`'s ending,
    by head length."""
    by_head: dict[int, list[str]] = {}
    for word in pool.rhymes_for(line, seen):
        head = slot.head_syllables(word)
        if head is not None:
            by_head.setdefault(head, []).append(word)
    return by_head


def _endings(slot: _Slot, pool: _Pool) -> list[Endings | None]:
    """The words each lane may end on, by head length: the pool's rhymes for the partner (those
    seen twice where there are any); free lanes when the pool has none."""
    assert slot.partner is not None
    by_head = _rhyme_words(slot, pool, slot.partner, MIN_SEEN) or _rhyme_words(slot, pool, slot.partner)
    return [by_head or None] * LANES
