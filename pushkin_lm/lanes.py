"""Many candidate lines at once: the decoder's lanes, each sampling one line up to its newline.

A lane may be given endings: words it must end its line with, each after a head of so many
syllables. It samples the head of the line as usual; at a space after a word, if it has written
as many syllables as one of its endings needs before it, that word is fed to it, a character at
a time (its log-probability counted), and after it at most two punctuation marks are sampled
before the newline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .decoder import Decoder
from .sample import SampleConfig, sample_many
from .verse import vowel_count
from .vocab import CharVocab

LANES = 32  # candidate lines per round: a step of 32 lanes costs about 3x one lane's (bench/verse_quality.py)
MAX_LINE_CHARS = 80  # the corpus's longest line has 56 characters; a lane past this is dropped
COMPACT_SHARE = 0.75  # drop finished lanes from the batch once fewer than this share still run
LINE_END_MARKS = frozenset(",.;:!?…")  # what may follow a line's forced last word
MAX_END_MARKS = 2


Endings = dict[int, str]  # syllables of the head -> the word that ends the line after it


@dataclass
class _Lane:
    text: str
    syllables: int
    limit: int  # most syllables the line (or, with an ending, its head) may have
    endings: Endings | None = None
    phase: str = "head"  # "head": sampling; "word": the ending is fed; "marks": punctuation after it
    queue: list[str] = field(default_factory=list)  # the ending's characters still to feed
    marks: int = 0
    score: float = 0.0

    def next_char(self, sampled: str) -> str:
        """The character this lane takes: the ending's next one, else the sampled one (after
        the ending only punctuation, else the newline)."""
        if self.queue:
            return self.queue.pop(0)
        if self.phase == "marks" and (sampled not in LINE_END_MARKS or self.marks >= MAX_END_MARKS):
            return "\n"
        return sampled

    def take(self, char: str) -> bool:
        """Add `char`; False when the lane stops: at its newline, or when it cannot be a line."""
        if char == "\n":
            return False
        self.text += char
        self.syllables += vowel_count(char)
        if self.phase == "head":
            if self.syllables > self.limit:
                return False
            at_word_end = char == " " and self.text[-2:-1] not in ("", " ")
            if self.endings and at_word_end and self.syllables in self.endings:
                self.queue, self.phase = list(self.endings[self.syllables]), "word"
        elif self.phase == "word":
            self.phase = "word" if self.queue else "marks"
        else:
            self.marks += 1
        return True

    def finished(self, char: str) -> bool:
        """Whether stopping at `char` ended a line of the stanza."""
        return char == "\n" and self.syllables > 0 and (not self.endings or self.phase == "marks")


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
) -> list[tuple[str, float]]:
    """One line per lane (one lane per item of `endings`) continuing `partial` (already read:
    `logits` are the next character's), each with the model's log-probability of what the lane
    added; the decoder is left as it was. A lane that passes `max_syllables` (with an ending, its
    head syllables) or MAX_LINE_CHARS, or ends a line without a vowel, is dropped."""
    start = vowel_count(partial)
    lanes = [_Lane(partial, start, max(e) if e else max_syllables, e) for e in endings]
    rows, done = list(range(len(lanes))), []  # the lane of each decoder row; -1: stopped
    decoder.fork(len(lanes))
    try:
        logits = logits.expand(len(lanes), -1).clone()
        for _ in range(MAX_LINE_CHARS):
            logits[:, 0] = float("-inf")  # never the unknown-character slot
            sampled = sample_many(logits, settings.temperature, settings.top_k, settings.top_p, generator)
            picks = zip(rows, sampled.tolist(), strict=True)
            chars = [lanes[n].next_char(vocab.chars[i]) if n >= 0 else "\n" for n, i in picks]
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
