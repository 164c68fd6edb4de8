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
rhyme when their keys match so and they do not end in the same word. In a stanza, partners are
looked for within RHYME_WINDOW lines (an Onegin stanza's farthest pair is 3 lines apart, a
sonnet's 7): farther apart, a shared sound is chance, not rhyme.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pushkin_lm.verse.meter import Prosody, dominant, final_stress, prosody
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
        if c in VOWELS:
            if i == 0 and stress is not None:
                c = stress
            else:
                c = "а" if c == "я" and i == len(segment) - 1 else _REDUCED[c]
        if c not in _SILENT:
            out.append(c)
    return _collapse(_devoice(out))


def _devoice(chars: list[str]) -> list[str]:
    """Voiced consonants devoice before a voiceless one and at the end of the word."""
    voiceless_next = True  # the end of a word counts as voiceless
    for i in range(len(chars) - 1, -1, -1):
        c = chars[i]
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
    return "" if not before or before[-1] in VOWELS else before[-1]


@dataclass(frozen=True)
class _Tail:
    word: str  # the rhyme word, ё spelt е
    sound: str  # from the stressed vowel to the end of the line
    masculine: bool
    open: bool  # masculine on an open syllable: the line ends in the stressed vowel
    support: str  # an open rhyme's supporting consonant ('' for none), else ''

    @property
    def key(self) -> str:
        return self.support + self.sound


def _rhyme_tail(p: Prosody, meter: str | None = None, feet: int | None = None) -> _Tail | None:
    """The rhyme word and key of a line read in `meter` if it fits; None without a stressed syllable."""
    last = final_stress(p, meter, feet)
    if last is None or p.rhyme_word is None:
        return None
    k = p.rhyme_word
    word = p.words[k]
    pos = word.vowels[last - p.bases[k]]
    spelt = word.text[pos]
    yo = spelt == "ё" or (spelt == "е" and last - p.bases[k] == word.stress and reads_yo(word.text))
    vowel = "ё" if yo else _STRESSED.get(spelt, spelt)
    sound = _sounds(word.text, pos, vowel) + "".join(_sounds(w.text) for w in p.words[k + 1 :])
    masculine = last == len(p.kinds) - 1
    open_syllable = masculine and len(word.text[pos:] + "".join(w.text for w in p.words[k + 1 :])) == 1
    support = _support(word.text, pos) if open_syllable else ""
    return _Tail(word.text.replace("ё", "е"), sound, masculine, open_syllable, support)


def rhyme_key(line: str) -> str:
    """The approximate sound of the line from its rhyme vowel to the end ('' if it has no stress);
    a ё in it stands for a stressed vowel that may rhyme as э or as о."""
    tail = _rhyme_tail(prosody(line))
    return tail.key if tail else ""


def rhymes(line_a: str, line_b: str) -> bool:
    """Whether two lines rhyme: equal rhyme keys (a ё in one matches э or о in the other), and not
    the same final word."""
    return _match(_rhyme_tail(prosody(line_a)), _rhyme_tail(prosody(line_b)))


def rhyme_letters(lines: Sequence[str]) -> list[str | None]:
    """Each line's rhyme letter, or None for a line that rhymes with no other line.

    A line takes the letter of the first earlier line it rhymes with; a new rhyme takes the next
    letter (A, B, C, ..., and A again after Z), upper case for a feminine or dactylic ending,
    lower case masculine. Each line's rhyme vowel is read in the stanza's dominant meter when the
    line fits it.
    """
    lines_prosody = [prosody(line) for line in lines]
    meter, feet = dominant(lines_prosody)
    tails = [_rhyme_tail(p, meter, feet) for p in lines_prosody]
    group: list[int | None] = []
    letters = 0
    for i, tail in enumerate(tails):
        near = range(max(0, i - RHYME_WINDOW), min(len(tails), i + RHYME_WINDOW + 1))
        partners = [j for j in near if j != i and _match(tail, tails[j])]
        earlier = [j for j in partners if j < i]
        if earlier:
            group.append(group[earlier[0]])
        elif partners:
            group.append(letters)
            letters += 1
        else:
            group.append(None)
    return [
        None if g is None or t is None else _letter(g, t.masculine) for g, t in zip(group, tails, strict=True)
    ]


def _match(a: _Tail | None, b: _Tail | None) -> bool:
    if a is None or b is None or a.word == b.word or a.open != b.open or not _same_sound(a.sound, b.sound):
        return False
    # a vowel after a vowel has no consonant to support it: it rhymes with any (мои / любви)
    return a.support == b.support or not {a.support, b.support}.isdisjoint(("", "й"))


def _same_sound(a: str, b: str) -> bool:
    return len(a) == len(b) and all(x == y or (x, y) in _EITHER for x, y in zip(a, b, strict=True))


def _letter(group: int, masculine: bool) -> str:
    letter = chr(ord("A") + group % 26)
    return letter.lower() if masculine else letter


def rhyme_scheme(lines: Sequence[str]) -> str:
    """The stanza's rhyme scheme, e.g. "AbAb"; "-" for a line that rhymes with no other line."""
    return "".join(letter or "-" for letter in rhyme_letters(lines))
