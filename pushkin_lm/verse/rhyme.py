"""Rhyme: Russian rhyme is a matter of sound, so lines are compared by an approximate phonetic key.

The key runs from the line's rhyme vowel (its last stress, as `meter` reads the line; in a stanza,
in the stanza's dominant meter) to the end of the line, enclitics included ("пра́вда ль"), spelt
roughly as it sounds:

* the stressed vowel loses its iotation: я ю е -> а у э, and ы -> и (the softness of the
  consonant before it is ignored). A stressed ё, written or read so by the stress model in a
  text that spells it е, stays ё in the key and matches both э and о: Pushkin's verse rhymes it
  either way ("рожден / звон", "утомленный / неизменный");
* unstressed vowels after the stress reduce: о а -> а, е э и ы -> и, я -> и (а at the very end),
  ю -> у; the genitive -ого/-его ends in -ово/-ево; unstressed -ый, -ий, -ой sound alike;
* й, ь and ъ drop; unpronounced or fused consonants are simplified (-тся/-ться -> ца, стн -> сн,
  здн -> зн, лнц -> нц, рдц -> рц, вств -> ств, сч/зч -> щ);
* voiced consonants devoice at the end of a word and before a voiceless one (б в г д ж з ->
  п ф к т ш с); doubled consonants collapse.

Feminine and dactylic rhymes compare the keys as they are. A masculine rhyme on an open syllable
(the line ends in the stressed vowel: луна́ / страна́) also needs its "supporting" consonant, the
one before the vowel, so that key starts with it; one closed by й (моей / милей) does not. A
vowel after a vowel has no consonant to support it (мои́; моя́ and друзья́ count as й + а), and
Pushkin rhymes such a word with any other on the same vowel (мои / любви, моя / тебя). Two lines
rhyme exactly when their keys match so and they do not end in the same word; how near an inexact
rhyme comes, and a stanza's scheme, are `scheme`'s. In a stanza, partners are looked for within
RHYME_WINDOW lines (an Onegin stanza's farthest pair is 3 lines apart, a sonnet's 7): farther
apart, a shared sound is chance, not rhyme.
"""

from __future__ import annotations

from dataclasses import dataclass

from pushkin_lm.verse.meter import Prosody, final_stress, prosody
from pushkin_lm.verse.stress import VOWELS, reads_yo

_CLUSTERS = (
    ("тьс", "ц"),
    ("тс", "ц"),
    ("дс", "ц"),
    ("вств", "ств"),
    ("стн", "сн"),
    ("здн", "зн"),
    ("лнц", "нц"),
    ("рдц", "рц"),
    ("сч", "щ"),
    ("зч", "щ"),
)
_IOTATED = frozenset("яюеё")
_STRESSED = {"я": "а", "ю": "у", "е": "э", "ы": "и"}  # ё is kept: it matches э and о
_REDUCED = dict(zip("оаеэиыяуюё", "ааиииииууо", strict=True))
_DEVOICED = {"б": "п", "в": "ф", "г": "к", "д": "т", "ж": "ш", "з": "с"}
_VOICELESS = frozenset("пфктшсхцчщ")
_SILENT = frozenset("йьъ")
_VOWEL_SOUNDS = frozenset("аоуэиё")
_EITHER = {("ё", "э"), ("ё", "о"), ("э", "ё"), ("о", "ё")}  # a stressed ё rhymes as э or as о
SOFT = "'"  # a final consonant's softness, kept in the key
YOT = "j"  # a й that is heard, before a vowel (the й and ь spelt elsewhere are not)
_HARD_ORSOFT = frozenset("жшчщ" + "аоуэиё")  # where a final ь is spelling only (ночь, рожь), or after a vowel
RHYME_WINDOW = 8
_ADJECTIVE_ENDINGS = ("ый", "ий", "ой")
# Words in -ого that are not genitive endings: their г is a г.
_NOT_GENITIVE = frozenset("много немного строго нестрого убого дорого недорого полого отлого ого".split())


def _sounds(word: str, start: int = 0, stress: str | None = None) -> str:
    """The approximate sound of word[start:]; `stress`: the sound of word[start], a stressed vowel."""
    segment = word[start:]
    if word.endswith(("ого", "его")) and word not in _NOT_GENITIVE and len(segment) > 2:
        segment = segment[:-2] + "во"  # its г is post-tonic here: the genitive -ого sounds -ово
    if segment.endswith(_ADJECTIVE_ENDINGS) and len(segment) > 2:
        segment = segment[:-2] + "ий"  # unstressed -ый, -ий, -ой sound alike
    for spelt, said in _CLUSTERS:
        segment = segment.replace(spelt, said)
    out = []
    for i, c in enumerate(segment):
        after = segment[i + 1 : i + 2]
        if c in VOWELS:
            if i == 0 and stress is not None:
                c = stress
            else:
                c = "а" if c == "я" and i == len(segment) - 1 else _REDUCED[c]
        elif (c in "ьъ" and after in _IOTATED | {"и"}) or (c == "й" and after in VOWELS):
            c = YOT  # a sounded й: пенье is пен'йе, not пене
        elif c == "ь" and not after and out and out[-1] not in _HARD_ORSOFT:
            c = SOFT  # a soft final consonant: даль is not дал
        if c not in _SILENT:
            out.append(c)
    return _collapse(_devoice(out))


def _devoice(chars: list[str]) -> list[str]:
    """Voiced consonants devoice before a voiceless one and at the end of the word."""
    voiceless_next = True  # the end of a word counts as voiceless
    for i in range(len(chars) - 1, -1, -1):
        c = chars[i]
        if c == SOFT:  # softness leaves voicing as it is: кровь sounds крофь
            continue
        if c in _VOWEL_SOUNDS:
            voiceless_next = False
            continue
        if voiceless_next and c in _DEVOICED:
            chars[i] = c = _DEVOICED[c]
        voiceless_next = c in _VOICELESS
    return chars


def _collapse(chars: list[str]) -> str:
    out = [c for i, c in enumerate(chars) if i == 0 or c != chars[i - 1] or c in _VOWEL_SOUNDS]
    return "".join(out)


def _support(word: str, pos: int) -> str:
    """The consonant before the stressed vowel at `pos`, as an open masculine rhyme needs it; й for
    an iotated vowel after a vowel or soft sign, '' for none."""
    before = word[:pos].rstrip("ьъ")
    if word[pos] in _IOTATED and (not before or before[-1] in VOWELS or len(before) < pos):
        return "й"
    if pos == len(word) - 1 and word.endswith(("ого", "его")) and word not in _NOT_GENITIVE:
        return "в"  # ничего́ rhymes with мертво́
    return "" if not before or before[-1] in VOWELS else before[-1]


@dataclass(frozen=True)
class Tail:
    """A line's ending as rhyme hears it."""

    word: str  # the rhyme word, ё spelt е
    sound: str  # from the stressed vowel to the end of the line
    masculine: bool
    open: bool  # masculine on an open syllable: the line ends in the stressed vowel
    onset: str  # the consonant before the stressed vowel ('' for none, й for an iotated vowel)
    last: int  # the syllable of the stressed vowel in its line

    @property
    def support(self) -> str:
        """What an open rhyme needs to share besides its vowel: the onset ('' for a closed one)."""
        return self.onset if self.open else ""

    @property
    def key(self) -> str:
        return self.support + self.sound


def rhyme_tail(p: Prosody, meter: str | None = None, feet: int | None = None) -> Tail | None:
    """The rhyme word and key of a line read in `meter` if it fits; None without a stressed syllable."""
    last = final_stress(p, meter, feet)
    return None if last is None or p.rhyme_word is None else _tail_at(p, p.rhyme_word, last)


# How a line's ending is read (`rhyme_tails`): as its reading stresses it, as another stress the
# model allows its rhyme word would have it (глаза́ / гла́за), as any other vowel of the word would.
READ, ALLOWED, ANY_VOWEL = 0, 1, 2


def rhyme_tails(p: Prosody, meter: str | None = None, feet: int | None = None) -> list[tuple[Tail, int]]:
    """The line's ending as `rhyme_tail` reads it, then as each other stress of its rhyme word would
    have it, each with how it was come by (READ, ALLOWED, ANY_VOWEL): a rhyme may settle what the
    meter leaves open or the stress model reads wrong, as a reader's ear does."""
    first, k = rhyme_tail(p, meter, feet), p.rhyme_word
    if first is None or k is None:
        return []
    word, base = p.words[k], p.bases[k]
    tiers = {first: READ}
    for i in () if word.marked else (*word.options, *range(len(word.vowels))):  # a poet's mark stands
        tiers.setdefault(_tail_at(p, k, base + i), ALLOWED if i in word.options else ANY_VOWEL)
    return list(tiers.items())


def _tail_at(p: Prosody, k: int, last: int) -> Tail:
    """The ending of line `p` whose word `k` carries the final stress, on syllable `last`."""
    word = p.words[k]
    pos = word.vowels[last - p.bases[k]]
    spelt = word.text[pos]
    yo = spelt == "ё" or (spelt == "е" and last - p.bases[k] == word.stress and reads_yo(word.text))
    # A ё the text writes is an о (its poet rhymes ё on о); one only the model reads may be either.
    vowel = "о" if spelt == "ё" else "ё" if yo else _STRESSED.get(spelt, spelt)
    sound = _sounds(word.text, pos, vowel) + "".join(_sounds(w.text) for w in p.words[k + 1 :])
    masculine = last == len(p.kinds) - 1
    open_syllable = masculine and len(word.text[pos:] + "".join(w.text for w in p.words[k + 1 :])) == 1
    return Tail(word.text.replace("ё", "е"), sound, masculine, open_syllable, _support(word.text, pos), last)


def rhyme_key(line: str) -> str:
    """The approximate sound of the line from its rhyme vowel to the end ('' if it has no stress);
    a ё in it stands for a stressed vowel that may rhyme as э or as о."""
    tail = rhyme_tail(prosody(line))
    return tail.key if tail else ""


def rhymes(line_a: str, line_b: str) -> bool:
    """Whether two lines rhyme: equal rhyme keys (a ё in one matches э or о in the other), and not
    the same final word."""
    return sounds_alike(rhyme_tail(prosody(line_a)), rhyme_tail(prosody(line_b)))


def sounds_alike(a: Tail | None, b: Tail | None) -> bool:
    """An exact rhyme: the same sound from the stressed vowel on (and an open one's support)."""
    if a is None or b is None or a.word == b.word or a.open != b.open or not _same_sound(a.sound, b.sound):
        return False
    # a vowel after a vowel has no consonant to support it: it rhymes with any (мои / любви)
    return a.support == b.support or not {a.support, b.support}.isdisjoint(("", "й"))


def _same_sound(a: str, b: str) -> bool:
    return len(a) == len(b) and all(same_vowel(x, y) for x, y in zip(a, b, strict=True))


def same_vowel(x: str, y: str) -> bool:
    """The same sound, a stressed ё matching э or о."""
    return x == y or (x, y) in _EITHER
