"""Settings defined once: a dataclass field carries its default, help text and allowed range.

    hidden_size: int = setting(512, "LSTM width", minimum=1)

`check` validates a config against its fields (types from the annotations, ranges from the
metadata) and `add_flags` derives the command-line flags from the same fields, so a new setting
is one line, its flag and its `--help` line (with the default) come with it, and the flag and the
Python API refuse the same values with the same message.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pushkin_lm.core.errors import PushkinLMError

MAX_SEED = 2**64 - 1  # torch's generators take seeds of up to 64 bits


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    choices: tuple[str, ...] | None = None,
    flag: bool = True,
    many: bool = False,
) -> Any:
    """A dataclass field with its help text and range (`minimum` <=, `above` <, `maximum` >=,
    `below` >); `flag=False` keeps it off the command line; `many` lets it hold one value or a
    list of several (its flag takes one or more). A `default` of MISSING is required."""
    bounds = {"minimum": minimum, "above": above, "maximum": maximum, "below": below}
    return dataclasses.field(
        default=default, metadata={"help": help, "choices": choices, "flag": flag, "many": many, **bounds}
    )


def field_types(cls: type) -> dict[str, tuple[type, bool]]:
    """Each field's base type (int, float, bool or str) and whether None is allowed."""
    kinds = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint)
        optional = isinstance(hint, types.UnionType) and type(None) in args
        kinds[name] = (next(a for a in args if a is not type(None)) if optional else hint, optional)
    return kinds


def check(config: Any, what: str = "setting") -> None:
    """Raise PushkinLMError, naming the field, for a value of the wrong type or out of range."""
    kinds = field_types(type(config))
    for f in dataclasses.fields(config):
        value, (kind, optional) = getattr(config, f.name), kinds[f.name]
        if value is None and optional:
            continue
        if f.metadata.get("many") and isinstance(value, list | tuple):
            _check_many(config, f, kind, value, what)
            continue
        if kind is float and type(value) is int:
            value = float(value)
            object.__setattr__(config, f.name, value)
        if type(value) is not kind:
            raise PushkinLMError(f"{what} {f.name} must be {kind.__name__}, got {value!r}")
        problem = out_of_range(value, f.metadata)
        if problem:
            raise PushkinLMError(f"{what} {f.name} must be {problem}, got {value}")


def _check_many(config: Any, f: dataclasses.Field, kind: type, values: list | tuple, what: str) -> None:
    """A list of several values, each of `kind`; a list of one is stored as that one value."""
    if not values or any(type(v) is not kind for v in values):
        raise PushkinLMError(f"{what} {f.name} must be {kind.__name__} or a list of them, got {values!r}")
    object.__setattr__(config, f.name, values[0] if len(values) == 1 else list(values))


def out_of_range(value: Any, meta: typing.Mapping[str, Any]) -> str | None:
    """What `value` should be, where it is not."""
    choices = meta.get("choices")
    if choices and value not in choices:
        return f"one of {', '.join(choices)}"
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, above, high, below = (meta.get(k) for k in ("minimum", "above", "maximum", "below"))
    if (
        (low is not None and value < low)
        or (above is not None and value <= above)
        or (high is not None and value > high)
        or (below is not None and value >= below)
    ):
        return _range_words(low, above, high, below, whole=isinstance(value, int))
    return None


def _range_words(low: Any, above: Any, high: Any, below: Any, whole: bool) -> str:
    if high == MAX_SEED:
        return "a whole number from 0 to 2**64 - 1"
    if whole and low is not None and high is not None:
        return f"a whole number from {low} to {high}"
    if (low is not None or above is not None) and (high is not None or below is not None):
        opening, start = ("[", low) if low is not None else ("(", above)
        closing, end = ("]", high) if high is not None else (")", below)
        return f"in {opening}{start:g}, {end:g}{closing}"
    if above is not None:
        return f"above {above:g}"
    kind = "a whole number" if whole else "a number"
    return f"{kind} of {'0 or more' if low == 0 else f'at least {low:g}'}"


def add_flags(parser: argparse._ActionsContainer, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of `cls` (both spellings); its default stays None so a preset or a saved
    run can tell what the user gave, and `--help` shows the field's default."""
    kinds = field_types(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("flag", False):
            continue
        kind, _ = kinds[f.name]
        shown = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata["help"] + ("" if shown is None else f" (default: {shown})")
        names = flag_names(f.name)
        if kind is bool:
            parser.add_argument(*names, dest=f.name, action=YesNo, help=help_text)
        elif f.metadata.get("many"):
            parser.add_argument(*names, dest=f.name, nargs="+", metavar=f.name.upper(), help=help_text)
        elif f.metadata["choices"]:
            parser.add_argument(*names, dest=f.name, choices=f.metadata["choices"], help=help_text)
        else:
            parser.add_argument(*names, dest=f.name, type=flag_type(kind, f.metadata), help=help_text)


def flag_names(name: str) -> list[str]:
    """Both spellings of a flag: `--max_tokens` and `--max-tokens`."""
    return [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])


def add_flag(
    parser: argparse._ActionsContainer, name: str, *, may_be_empty: bool = False, **kwargs: Any
) -> None:
    """A flag that is not a setting, in both spellings (`flag_names`), stored as `name`. An empty
    value is refused (`empty_flag`) unless it means something (`--prompt ''`: `may_be_empty`)."""
    action = parser.add_argument(*flag_names(name), dest=name, **kwargs)
    action.may_be_empty = may_be_empty  # read by the command line's parser (cli/main.py)


# What an empty value should have been, by the flag or argument as `--help` names it. An empty
# path would mean the current folder, an empty meter the default one: never what was typed.
EXAMPLES = {
    "--out": ("a path", "runs/pushkin"),
    "--resume": ("a path", "runs/pushkin"),
    "--data": ("a path", "verse.txt"),
    "--init_from": ("a checkpoint", "base"),
    "--checkpoint": ("a checkpoint", "pushkin-lm"),
    "--prompt_file": ("a path", "prompt.txt"),
    "--png": ("a path", "curves.png"),
    "OUT": ("a path", "runs/pushkin"),
    "FILE": ("a path", "verse.txt"),
    "OWNER/NAME": ("a Hub repo id", "someone/pushkin-lm"),
    "--meter": ("a meter", "iamb4"),
    "--text": ("a text", "'Мой дядя самых честных правил'"),
    "--title": ("a title", "'my run'"),
    "--commit_message": ("a message", None),
    "--token": ("a token, or drop --token for HF_TOKEN or your login", None),
    "--host": ("an address", "127.0.0.1"),
}


def empty_flag(label: str, default: Any = None) -> str:
    """The message for an empty value of flag (or argument) `label`; `default`, where it is one,
    makes the example (`--out attention.png`)."""
    noun, example = EXAMPLES.get(label, ("a value", None))
    if isinstance(default, str) and default:
        example = shlex.quote(default)
    if not example:
        return f"{label} is empty; give {noun}"
    return f"{label} is empty; give {noun}, e.g. {label + ' ' if label.startswith('-') else ''}{example}"


def not_utf8(label: str, value: str) -> str | None:
    """The message for a value that is not UTF-8, or None. Python reads the bytes of a command line
    that are not UTF-8 as lone surrogates (U+DC80-U+DCFF), which printed or written come back out
    as those bytes: `scan --json` would write JSON that is not UTF-8, a run a config.json it cannot
    read back (the run lost at its first save)."""
    try:
        value.encode("utf-8")
        return None
    except UnicodeEncodeError as err:
        char = value[err.start]
        bad = (
            f"byte 0x{ord(char) - 0xDC00:02x}"
            if "\udc80" <= char <= "\udcff"
            else f"a lone surrogate {char!r}"
        )
        shown = f"{label} {_escaped(value)}"
        where = shown if len(shown) <= 80 else f"{label} (at character {err.start + 1:,})"
        path = EXAMPLES.get(label, ("",))[0] == "a path"
        fix = "rename it, or choose a UTF-8 path" if path else "give it in UTF-8"
        return f"{where} is not UTF-8 ({bad}), the encoding pushkin-lm prints and records in; {fix}"


def _escaped(value: str) -> str:
    """`value` with the bytes that are not UTF-8 as \\xff, lone surrogates as \\ud800."""
    return "".join(
        f"\\x{ord(c) - 0xDC00:02x}"
        if "\udc80" <= c <= "\udcff"
        else c.encode("utf-8", "backslashreplace").decode()
        for c in value
    )


def require_path(flag: str, value: str) -> None:
    """Refuse a path a run could not record: an empty one (`empty_flag`), one that is not UTF-8."""
    problem = empty_flag(f"--{flag}") if not value else not_utf8(f"--{flag}", value)
    if problem:
        raise PushkinLMError(problem)


def whole_number(minimum: int = 1, maximum: int | None = None) -> typing.Callable[[str], int]:
    """An argparse type for a whole number in [minimum, maximum], refused with the range."""
    return flag_type(int, {"minimum": minimum, "maximum": maximum})


def number(above: float | None = None, below: float | None = None) -> typing.Callable[[str], float]:
    """An argparse type for a finite number in (above, below), refused with the range."""
    return flag_type(float, {"above": above, "below": below})


def flag_type(kind: type, meta: typing.Mapping[str, Any]) -> typing.Callable[[str], Any]:
    """An argparse type: `kind` parsed from text, refused (with the range) where out of range."""

    def parse(text: str) -> Any:
        value = kind(text) if kind is not float else float(text)
        problem = out_of_range(value, meta)
        if problem:
            raise argparse.ArgumentTypeError(f"must be {problem}, got {text}")
        return value

    parse.__name__ = {int: "whole number", float: "number"}.get(kind, kind.__name__)
    return parse


class YesNo(argparse.BooleanOptionalAction):
    """A yes/no flag in every spelling (`--shift_keys`, `--shift-keys`, `--no_shift_keys`,
    `--no-shift-keys`, `--no-shift_keys`), shown in two: `shown`, `--x | --no_x`."""

    def __init__(self, option_strings: typing.Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        plain = [o for o in option_strings if o.startswith("--") and "-" not in o[2:]]
        self.option_strings += [f"--no_{o[2:]}" for o in plain]
        self.shown = (option_strings[0], f"--no_{option_strings[0][2:]}")

    def format_usage(self) -> str:
        return " | ".join(self.shown)

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        setattr(namespace, self.dest, not (option_string or "").startswith("--no"))


def train_command(arguments: str, launcher: str | None = None) -> str:
    """The train command with `arguments`, as this program was started, so that advice to run it
    works where the user is: `pushkin-lm train`, `pushkin-lm-train`, or the script by the path
    typed (`python code/train.py`); `launcher` (torchrun and its flags) goes before the script."""
    started = sys.argv[0] if sys.argv else ""
    if launcher is None and Path(started).name in ("pushkin-lm", "pushkin-lm-train"):
        program = "pushkin-lm train" if Path(started).name == "pushkin-lm" else "pushkin-lm-train"
        return f"{program} {arguments}"
    script = started if Path(started).name == "train.py" else "code/train.py"  # else: from Python
    return f"{launcher or 'python'} {shlex.quote(script)} {arguments}"


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` that were given on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}
