"""Many candidate lines at once: the decoder's lanes, each sampling one line up to its newline.

A lane may be given endings: for a head of so many syllables, the words that may end its line.
It samples the head of the line as usual, and is dropped as soon as what it has written fails
the caller's test at a word's end (`viable`: for a stanza, that the line can still scan). At a
space after a word, if it has written as many syllables as one of its endings needs and the
caller's `may_end` lets an ending follow what it has written, its sampling is confined to those
words, letter by letter, so that the model itself picks the word that fits what it has written
(its log-probability counted as written, not as confined); after the word at most two
punctuation marks are sampled before the newline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import sample_many
from pushkin_lm.verse import vowel_count

LANES = 32  # candidate lines per round: a step of 32 lanes costs about 3x one lane's (bench/verse_quality.py)
MAX_LINE_CHARS = 80  # the corpus's longest line has 56 characters; a lane past this is dropped
COMPACT_SHARE = 0.75  # drop finished lanes from the batch once fewer than this share still run
LINE_END_MARKS = frozenset(",.;:!?…")  # what may follow a line's last word
MAX_END_MARKS = 2


Endings = dict[int, list[str]]  # syllables of the head -> the words that may end the line after it


@dataclass
class _Lane:
    text: str
    syllables: int
    limit: int  # most syllables the line (or, with endings, its head) may have
    endings: Endings | None = None
    viable: Callable[[str], bool] | None = None  # a test of the head at each word's end
    may_end: Callable[[str], bool] | None = None  # whether the ending may follow the head so far
    phase: str = "head"  # "head": free; "word": confined to `words`; "marks": punctuation, then newline
    words: tuple[str, ...] = ()  # in the word phase: the endings the letters so far begin
    typed: str = ""  # the ending's letters so far
    marks: int = 0
    score: float = 0.0
    voiced: bool = False  # whether this line (not the partial it continues) has a vowel yet

    def allowed(self) -> frozenset[str] | None:
        """The characters this lane may take next; None: any."""
        if self.phase == "word":
            nexts = {word[len(self.typed)] for word in self.words if len(word) > len(self.typed)}
            return frozenset(nexts | (LINE_END_MARKS | {"\n"} if self.typed in self.words else set()))
        if self.phase == "marks":
            return LINE_END_MARKS | {"\n"} if self.marks < MAX_END_MARKS else frozenset("\n")
        return None

    def take(self, char: str) -> bool:
        """Add `char`; False when the lane stops: at its newline, or when it cannot be a line."""
        if char == "\n":
            return False
        self.text += char
        self.syllables += vowel_count(char)
        self.voiced = self.voiced or vowel_count(char) > 0
        if self.phase == "head":
            if self.syllables > self.limit:
                return False
            at_word_end = char == " " and self.text[-2:-1] not in ("", " ")
            if at_word_end and self.viable is not None and not self.viable(self.text):
                return False
            if self.endings and at_word_end and self.syllables in self.endings and self._may_end():
                self.phase, self.words = "word", tuple(self.endings[self.syllables])
        elif self.phase == "word" and char not in LINE_END_MARKS:
            self.typed += char
            self.words = tuple(w for w in self.words if w.startswith(self.typed))
        else:
            self.phase, self.marks = "marks", self.marks + 1
        return True

    def _may_end(self) -> bool:
        return self.may_end is None or self.may_end(self.text)

    def finished(self, char: str) -> bool:
        """Whether stopping at `char` ended a line of the stanza."""
        ended_word = self.phase == "marks" or self.phase == "word" and self.typed in self.words
        return char == "\n" and self.syllables > 0 and (not self.endings or ended_word)


def _confine(logits: torch.Tensor, lanes: list[_Lane], rows: list[int], vocab: CharVocab) -> torch.Tensor:
    """`logits` with each lane's disallowed characters at -inf (a copy where any lane is confined).
    A lane whose line has no vowel yet may not end it: the model's wish for a blank line (where a
    stanza of its corpus would end) would otherwise drop every lane, round after round."""
    confined = [(row, lanes[n].allowed()) for row, n in enumerate(rows) if n >= 0]
    confined = [(row, chars) for row, chars in confined if chars is not None]
    blank = [row for row, n in enumerate(rows) if n >= 0 and lanes[n].phase == "head" and not lanes[n].voiced]
    if not confined and not blank:
        return logits
    mask = torch.zeros_like(logits, dtype=torch.bool)
    for row, chars in confined:
        mask[row] = True
        mask[row, vocab.encode("".join(sorted(chars)))] = False
    mask[blank, vocab.encode("\n")] = True
    return logits.masked_fill(mask, float("-inf"))


@torch.inference_mode()
def sample_lines(
    decoder: Decoder,
    vocab: CharVocab,
    logits: torch.Tensor,
    settings: SampleConfig,
    generator: torch.Generator,
    partial: str = "",
    max_syllables: int = 99,
    endings: Sequence[Endings | None] = (None,) * LANES,
    viable: Callable[[str], bool] | None = None,
    may_end: Callable[[str], bool] | None = None,
) -> list[tuple[str, float]]:
    """One line per lane (one lane per item of `endings`) continuing `partial` (already read:
    `logits` are the next character's), each with the model's log-probability of what the lane
    added; the decoder is left as it was. A lane that passes `max_syllables` (with an ending, its
    head syllables) or MAX_LINE_CHARS, ends a line without a vowel, or whose line so far fails
    `viable` at a word's end, is dropped."""
    start = vowel_count(partial)
    lanes = [_Lane(partial, start, max(e) if e else max_syllables, e, viable, may_end) for e in endings]
    rows, done = list(range(len(lanes))), []  # the lane of each decoder row; -1: stopped
    decoder.fork(len(lanes))
    try:
        logits = logits.expand(len(lanes), -1).clone()
        for _ in range(MAX_LINE_CHARS):
            logits[:, 0] = float("-inf")  # never the unknown-character slot
            confined = _confine(logits, lanes, rows, vocab)
            sampled = sample_many(confined, settings, generator)
            chars = [vocab.chars[i] if n >= 0 else "\n" for n, i in zip(rows, sampled.tolist(), strict=True)]
            ids = torch.tensor(vocab.encode("".join(chars)))
            scores = torch.log_softmax(logits, 1).gather(1, ids[:, None])[:, 0].tolist()
            for row, n in enumerate(rows):
                if n >= 0:
                    lanes[n].score += scores[row]
                    if not lanes[n].take(chars[row]):
                        rows[row] = -1
                        done += [n] if lanes[n].finished(chars[row]) else []
            live = [row for row, n in enumerate(rows) if n >= 0]
            if not live:
                break
            if len(live) < COMPACT_SHARE * len(rows):  # fewer rows, cheaper steps
                decoder.select(live)
                rows, ids = [rows[row] for row in live], ids[live]
            logits = decoder.step_many(ids)
    finally:
        decoder.unfork()
    return [(lanes[n].text, lanes[n].score) for n in done]
