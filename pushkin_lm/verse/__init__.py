"""Russian verse analysis: syllables, word stress, meter, rhyme.

    scan_line("Мой дядя самых честных правил")  # LineScan(..., syllables=9, meter='iamb', feet=4,
                                                #          ending='feminine')
    fits_meter(line, "iamb", 4)                  # fast check for a generator's candidate lines
    rhyme_scheme(quatrain)                       # "AbAb"
    scan_text(text).to_dict()                    # {"stanzas": [...], "summary": {...}}

The prosody rules are in the docstrings of `stress` (word stress), `meter` (meter, feet, endings)
and `rhyme` (rhyme keys). The stress model, silero-stress, loads on first use, not at import.
"""

from pushkin_lm.verse.meter import METERS, LineScan, breaks_meter, fits_meter, scan_line
from pushkin_lm.verse.rhyme import rhyme_key, rhymes
from pushkin_lm.verse.scheme import rhyme_letters, rhyme_scheme
from pushkin_lm.verse.stanza import LineReport, StanzaScan, TextScan, scan_stanza, scan_text, split_stanzas
from pushkin_lm.verse.stress import model_load_seconds, prefetch, vowel_count, word_stress

__all__ = [
    "METERS",
    "LineReport",
    "LineScan",
    "StanzaScan",
    "TextScan",
    "breaks_meter",
    "fits_meter",
    "model_load_seconds",
    "prefetch",
    "rhyme_key",
    "rhyme_letters",
    "rhyme_scheme",
    "rhymes",
    "scan_line",
    "scan_stanza",
    "scan_text",
    "split_stanzas",
    "vowel_count",
    "word_stress",
]
