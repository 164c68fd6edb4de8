"""Stanzas and whole texts: every line scanned, rhyme letters per stanza, and a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pushkin_lm.verse.meter import dominant, prosody, scan_line
from pushkin_lm.verse.scheme import rhymed

POEM_SEPARATOR = "</s>"  # the corpus's line between poems; it ends a stanza like a blank line


@dataclass(frozen=True)
class LineReport:
    text: str
    stressed: str
    syllables: int
    meter: str | None
    feet: int | None
    ending: str | None
    rhyme: str | None  # the line's letter in the stanza's scheme; None: it rhymes with no line


@dataclass(frozen=True)
class StanzaScan:
    scheme: str  # e.g. "AbAb"; "-" for a line without a rhyme partner
    lines: list[LineReport]


@dataclass(frozen=True)
class TextScan:
    stanzas: list[StanzaScan]
    summary: dict

    def to_dict(self) -> dict:
        """The JSON shape: {"stanzas": [{"scheme", "lines": [{...}]}], "summary": {...}}."""
        return asdict(self)


def scan_stanza(lines: Sequence[str]) -> StanzaScan:
    """Scan each line of a stanza and letter its rhymes. A line that fits the stanza's dominant
    meter and size (the most common among its lines' own best readings) is read in them; a rhyme
    word whose rhyme hears another stress than the line's reading is stressed as it rhymes."""
    meter, feet = dominant([prosody(line) for line in lines])
    letters = rhymed(lines)
    reports = [
        LineReport(**asdict(scan_line(line, meter, feet, rhyme_at)), rhyme=letter)
        for line, (letter, rhyme_at) in zip(lines, letters, strict=True)
    ]
    return StanzaScan("".join(letter or "-" for letter, _ in letters), reports)


def split_stanzas(text: str) -> list[list[str]]:
    """Non-empty lines, stripped, grouped into stanzas at blank lines and at `POEM_SEPARATOR`."""
    stanzas: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = raw.strip()
        if line and line != POEM_SEPARATOR:
            stanzas[-1].append(line)
        elif stanzas[-1]:
            stanzas.append([])
    return [s for s in stanzas if s]


def scan_text(text: str) -> TextScan:
    """Scan every stanza of a text (stanzas split on blank lines) and count meters and schemes."""
    stanzas = [scan_stanza(lines) for lines in split_stanzas(text)]
    return TextScan(stanzas, summarize(stanzas))


def summarize(stanzas: Sequence[StanzaScan]) -> dict:
    """Counts of meters ("iamb4", ... or "none") and of rhyme schemes, and the shares of lines
    that have a meter and that have a rhyme partner."""
    lines = [line for s in stanzas for line in s.lines]
    meters = Counter(f"{x.meter}{x.feet}" if x.meter else "none" for x in lines)
    n = len(lines)
    return {
        "lines": n,
        "stanzas": len(stanzas),
        "metered_share": round(sum(x.meter is not None for x in lines) / n, 4) if n else 0.0,
        "rhymed_share": round(sum(x.rhyme is not None for x in lines) / n, 4) if n else 0.0,
        "meters": dict(meters.most_common()),
        "schemes": dict(Counter(s.scheme for s in stanzas).most_common()),
    }
