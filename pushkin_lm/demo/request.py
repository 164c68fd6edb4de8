"""What a visitor of the demo page may ask for, and the server's limits. No torch and no Gradio
here: `pushkin-lm demo --help` reads its defaults from this module.

`Request` is the page's settings, each field once: its default, its label on the page (whose first
words name it in messages) and its range, checked by core.settings' machinery. The page's controls,
their order and `Engine.stream`'s arguments all come from its fields. The sampler's fields take
their default and range from `SampleConfig`, narrowed to what a public server allows.
"""

from __future__ import annotations

import dataclasses
import random
import reprlib
from dataclasses import dataclass
from typing import Any

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import check, field_types, out_of_range, setting
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.verse.forms import FORMS, FREE_VERSE
from pushkin_lm.verse.meter import METERS

MAX_TOKENS = 2000  # the most characters one request writes
MAX_PROMPT_CHARS = 10_000
TIME_LIMIT = 60.0  # seconds per request, checked at every character (engine.py, _Timed)
WORKERS = 8  # requests written at once, each with its own decoder

BRIEF_CHARS = 60  # the most of a refused value a message repeats
_BRIEF = reprlib.Repr()  # (3.12 takes these as arguments; 3.10 and 3.11 do not)
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxlist, _BRIEF.maxdict, _BRIEF.maxtuple = 3, BRIEF_CHARS, 4, 4, 4
BOUNDS = ("minimum", "above", "maximum", "below")
SAMPLER = {f.name: f for f in dataclasses.fields(SampleConfig)}


def _field(default: Any, label: str, off: Any = None, **range_: Any) -> Any:
    """A `setting` whose help is its label on the page; `off` is the page's value for the sampler's
    None (a slider cannot be empty, so top-k 0 and top-p 1 mean "all characters")."""
    made = setting(default, label, **range_)
    return dataclasses.field(default=default, metadata={**made.metadata, "off": off})


def _sampler(name: str, label: str, off: Any = None, **narrower: Any) -> Any:
    """SampleConfig's field `name` on the page: its default and range, narrowed by `narrower` (a
    server bounds what one request may cost). With `off`, `off` is the default."""
    base = SAMPLER[name]
    range_ = {k: base.metadata[k] for k in BOUNDS} | narrower
    return _field(base.default if off is None else off, label, off=off, **range_)


@dataclass(frozen=True)
class Request:
    """One request's settings, in the order of the page's controls and of `Engine.stream`'s
    arguments. A new field here is a new control on the page (page.py builds one from its metadata);
    every field of SampleConfig must have one (tests/demo checks)."""

    prompt: str = _field("", "Prompt")
    form: str = _field(FREE_VERSE, "Verse form", choices=(FREE_VERSE, *FORMS))
    meter: str = _field("iamb", "Meter (stanza forms)", choices=tuple(METERS))
    feet: int = _field(4, "Feet", minimum=1, maximum=9)
    temperature: float = _sampler("temperature", "Temperature (0: greedy)", maximum=5)
    max_tokens: int = _sampler("max_tokens", "Length (free verse)", minimum=1, maximum=MAX_TOKENS)
    top_k: int = _sampler("top_k", "Top-k (0: off)", off=0, minimum=0)  # past the vocabulary: all
    top_p: float = _sampler("top_p", "Top-p (1: off)", off=1.0)
    seed: int | None = _sampler("seed", "Seed (empty: random)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # ranges first, so that the message is in the page's words
            value = getattr(self, f.name)
            problem = out_of_range(value, f.metadata)
            if problem:
                raise PushkinLMError(f"{page_word(f)} must be {problem}, got {brief(value)}")
        check(self, "request")  # and the types, for a Request built in Python rather than parsed
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise PushkinLMError(
                f"the prompt has {len(self.prompt):,} characters; the demo reads at most {MAX_PROMPT_CHARS:,}"
            )

    @classmethod
    def parse(cls, *values: Any, **named: Any) -> Request:
        """The request from the page's raw values, in field order or by name: a whole float (a
        slider's 4.0) is an int, a number may come as text, None or "" is the field's default; an
        empty seed is drawn here, so that the status can say which it was. Refuses anything else
        with a one-line PushkinLMError in the page's words."""
        names = [f.name for f in dataclasses.fields(cls)]
        if len(values) > len(names):
            raise PushkinLMError(f"there are {len(names)} settings ({', '.join(names)}), not {len(values)}")
        raw = dict(zip(names, values, strict=False))
        for name, value in named.items():
            if name not in names or name in raw:
                problem = "given twice" if name in raw else f"not one of {', '.join(names)}"
                raise PushkinLMError(f"setting {brief(name)} is {problem}")
            raw[name] = value
        kinds = field_types(cls)
        given = {
            f.name: _value(raw[f.name], kinds[f.name][0], page_word(f))
            for f in dataclasses.fields(cls)
            if raw.get(f.name) not in (None, "")
        }
        if given.get("seed") is None:
            given["seed"] = random.randrange(2**31)
        return cls(**given)

    def sampling(self) -> SampleConfig:
        """The sampler's settings: a field's `off` value is SampleConfig's None."""
        values = {name: getattr(self, name) for name in SAMPLER}
        off = {f.name: f.metadata["off"] for f in dataclasses.fields(self) if f.name in SAMPLER}
        return SampleConfig(**{k: None if v == off[k] else v for k, v in values.items()})

    @property
    def line_meter(self) -> str:
        """The meter with its feet, as generate_form takes it: iamb4."""
        return f"{self.meter}{self.feet}"


def page_word(f: dataclasses.Field) -> str:
    """What messages call a field: its label up to the parenthesis, "Length (free verse)" -> length."""
    return f.metadata["help"].split(" (")[0].lower()


def brief(value: Any) -> str:
    """`value` for a message: its repr cut short (reprlib: a few items and levels, never the whole
    of a megabyte or of a list nested a million deep), so that a message stays one short line."""
    if isinstance(value, int) and value.bit_length() > 4 * BRIEF_CHARS:  # str() refuses 4,300 digits
        return f"about {'-' * (value < 0)}2^{value.bit_length() - 1}"
    text = _BRIEF.repr(value) if isinstance(value, str | list | dict | tuple) else str(value)
    return text if len(text) <= BRIEF_CHARS else text[: BRIEF_CHARS - 1] + "…"


def _value(raw: Any, kind: type, word: str) -> Any:
    """A raw page value as `kind`: text as it is, a number from text, a whole float as an int."""
    if kind is str:
        if not isinstance(raw, str):
            raise PushkinLMError(f"{word} must be text, got {brief(raw)}")
        return raw.replace("\r\n", "\n")  # a browser's line ends
    if isinstance(raw, str):
        raw = _number(raw.strip(), word)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise PushkinLMError(f"{word} must be a number, got {brief(raw)}")
    if kind is float:
        return float(raw)
    if isinstance(raw, float):
        if not raw.is_integer():  # also NaN and infinity
            raise PushkinLMError(f"{word} must be a whole number, got {raw}")
        return int(raw)
    return raw


def _number(text: str, word: str) -> int | float:
    try:
        return int(text)  # exact, even past float's 2**53 (a seed)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise PushkinLMError(f"{word} must be a number, got {brief(text)}") from None
