"""Stanza forms and line meters by name: `onegin` is AbAbCCddEffEgg, `iamb4` the iambic tetrameter.

A capital letter of a scheme rhymes on a feminine ending, a lower-case one on a masculine ending.
A new form is one line of FORMS: generation (sampling/forms.py), the `--form` flag and the demo's
menu all read it from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.verse.meter import METERS

FORMS = {  # capital: feminine ending, lower case: masculine
    "onegin": "AbAbCCddEffEgg",
    "abab": "AbAb",
    "abba": "AbbA",
    "aabb": "AAbb",
}
FREE_VERSE = "free"  # no form: the character stream
DEFAULT_METER = "iamb4"


@dataclass(frozen=True)
class LineMeter:
    """A meter with its number of feet: iamb4 is the iambic tetrameter."""

    name: str  # a key of verse.METERS
    feet: int

    def syllables(self, feminine: bool) -> int:
        """Syllables of a line with this ending (iamb 4: 8 masculine, 9 feminine)."""
        meter = METERS[self.name]
        return meter.anacrusis + (self.feet - 1) * meter.period + 1 + feminine


def parse_meter(text: str) -> LineMeter:
    """'iamb4' -> LineMeter('iamb', 4); anything else is refused in one line."""
    match = re.fullmatch(r"([a-z]+)([1-9])", text.strip().lower())
    if not match or match.group(1) not in METERS:
        raise PushkinLMError(
            f"--meter {text!r} is not a meter: give one of {', '.join(METERS)} and a number of feet "
            "from 1 to 9, e.g. iamb4 or trochee5"
        )
    return LineMeter(match.group(1), int(match.group(2)))


def stanza_scheme(form: str) -> str:
    """The rhyme scheme of stanza form `form`, e.g. AbAb; an unknown form is refused in one line."""
    if form not in FORMS:
        raise PushkinLMError(f"--form {form!r} is not a stanza form: choose one of {', '.join(FORMS)}")
    return FORMS[form]


def chosen_form(form: str, meter: str | None) -> tuple[str, str] | None:
    """The (form, meter) that --form and --meter ask for, checked before any model loads; None
    for free text. A meter without a stanza form is refused rather than ignored."""
    if form == FREE_VERSE:
        if meter is not None:
            raise PushkinLMError(f"--meter {meter} needs a stanza --form: one of {', '.join(FORMS)}")
        return None
    stanza_scheme(form)
    parse_meter(meter or DEFAULT_METER)
    return form, meter or DEFAULT_METER
