"""Whether generated verse is Russian, by pymorphy3's dictionary, which no corpus of ours made.

    language = Language()
    language.shares(["Мой дядя самых честных правил,", ...])
    # {'real_words': 0.98, 'agreement': 0.95, 'agreement_pairs': 40}

- `real_words`: the share of Cyrillic words the dictionary knows (pymorphy3 guesses a parse
  for any string; `word_is_known` says whether it is a dictionary word).
- `agreement`: of adjacent adjective-noun pairs (the first word's likeliest parse a full adjective
  or participle, the next one's a noun, both dictionary words, only a space between them), the
  share for which some parse of each agrees in case and number, and in gender where singular.
  Counting only pairs with nothing between them keeps «ночной, седой туман» out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pymorphy3

PAIR = re.compile(r"(?=(?<![а-яё])([а-яё]+) ([а-яё]+)(?![а-яё]))")  # overlapping "word word" pairs
WORD = re.compile(r"[а-яё]+")
ADJECTIVES = {"ADJF", "PRTF"}
# Second genitive, locative and accusative ("чаю", "в лесу") and the vocative count as their cases.
CASE_OF = {"gen1": "gent", "gen2": "gent", "acc2": "accs", "loc1": "loct", "loc2": "loct", "voct": "nomn"}


class Language:
    def __init__(self) -> None:
        self.morph = pymorphy3.MorphAnalyzer()

    def shares(self, lines: Iterable[str]) -> dict:
        text = "\n".join(lines).lower().replace("ё", "е")  # the dictionary's words are spelled with е
        words = WORD.findall(text)
        known = sum(self.morph.word_is_known(w) for w in words)
        pairs = [p for p in PAIR.findall(text) if self._adjective_noun(*p)]
        agree = sum(self._agree(*p) for p in pairs)
        return {
            "real_words": round(known / max(1, len(words)), 4),
            "agreement": round(agree / max(1, len(pairs)), 4),
            "agreement_pairs": len(pairs),
        }

    def _adjective_noun(self, first: str, second: str) -> bool:
        if not (self.morph.word_is_known(first) and self.morph.word_is_known(second)):
            return False
        likeliest = self.morph.parse(first)[0].tag.POS, self.morph.parse(second)[0].tag.POS
        return likeliest[0] in ADJECTIVES and likeliest[1] == "NOUN"

    def _agree(self, adjective: str, noun: str) -> bool:
        adjectives = [p.tag for p in self.morph.parse(adjective) if p.tag.POS in ADJECTIVES]
        nouns = [p.tag for p in self.morph.parse(noun) if p.tag.POS == "NOUN"]
        return any(_agree(a, n) for a in adjectives for n in nouns)


def _agree(adjective: pymorphy3.tagset.OpencorporaTag, noun: pymorphy3.tagset.OpencorporaTag) -> bool:
    if CASE_OF.get(adjective.case, adjective.case) != CASE_OF.get(noun.case, noun.case):
        return False
    if noun.number is not None and adjective.number != noun.number:
        return False  # a noun without number ("кофе" has one; few lack it) agrees with either
    if adjective.number == "plur" or noun.gender is None or "Ms-f" in noun:
        return True  # the plural has no gender; common-gender nouns ("сирота") take either
    return adjective.gender == noun.gender


def line_ends(stanzas: Iterable[list[str]]) -> list[str]:
    """The last word of each line, lower-cased ('' for a line without one)."""
    return [(WORD.findall(line.lower()) or [""])[-1] for stanza in stanzas for line in stanza]
