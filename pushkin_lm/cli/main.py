"""The command line: `pushkin-lm train|generate|evaluate|plot|attention|scan|push|demo`; the first three
also as `pushkin-lm-train`, `pushkin-lm-generate`, `pushkin-lm-evaluate` and `python code/*.py`.

Each command is a module of this folder with `DESCRIPTION`, `flags(parser)` and `run(args)`; its
flags come from the settings dataclasses, and the library (torch and everything on it) is imported
inside `run`, so that `--help` needs no torch. A `PushkinLMError`, or output that cannot be written,
becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from pushkin_lm.cli import attention, demo, evaluate, generate, plot, push, scan, train
from pushkin_lm.core.errors import PushkinLMError, TrainingInterrupted
from pushkin_lm.core.settings import YesNo, empty_flag, not_utf8
from pushkin_lm.core.version import VERSION

COMMANDS: dict[str, ModuleType] = {
    "train": train,
    "generate": generate,
    "evaluate": evaluate,
    "plot": plot,
    "attention": attention,
    "demo": demo,
    "push": push,
    "scan": scan,
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage dump) and exit status 2."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_abbrev=False, formatter_class=HelpFormatter, **kwargs)  # a typo is an error
        self.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        """argparse's, and then each text value checked: an empty one refused (`empty_flag`:
        `--checkpoint ''` would mean the current folder, `--png ''` the default picture, `--resume ''`
        a new run), one that is not UTF-8 too (`not_utf8`). Each parser checks its own flags, so a
        command's are checked by its subparser."""
        namespace, extras = super().parse_known_args(args, namespace)
        for action in self._actions:
            value = getattr(namespace, action.dest, None)
            label = action.option_strings[0] if action.option_strings else action.metavar or action.dest
            for text in value if isinstance(value, list) else [value]:
                if text == "" and not getattr(action, "may_be_empty", False):
                    self.error(empty_flag(label, action.default))
                if isinstance(text, str) and (problem := not_utf8(label, text)):
                    self.error(problem)
        return namespace, extras


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default only where it has a real one (settings' flags say theirs in the help)."""

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, YesNo):  # its two spellings, not all five it takes
            return ", ".join(action.shown)
        return super()._format_action_invocation(action)

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def main(argv: Sequence[str] | None = None) -> int:
    """`pushkin-lm COMMAND ...`"""
    parser = ArgumentParser(
        prog="pushkin-lm", description="A character-level language model of Pushkin's verse."
    )
    subcommands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=ArgumentParser
    )
    for name, command in COMMANDS.items():
        summary = command.DESCRIPTION.split(":")[0]
        command.flags(subcommands.add_parser(name, help=summary, description=command.DESCRIPTION))
    args = parser.parse_args(argv)
    return run(COMMANDS[args.command].run, f"pushkin-lm {args.command}", args)


def command_main(name: str, prog: str | None = None) -> Callable[[Sequence[str] | None], int]:
    """One command with a parser of its own: `pushkin-lm-train`, `python code/demo.py`, ..."""

    def main(argv: Sequence[str] | None = None) -> int:
        command = COMMANDS[name]
        parser = ArgumentParser(prog=prog or f"pushkin-lm-{name}", description=command.DESCRIPTION)
        command.flags(parser)
        return run(command.run, parser.prog, parser.parse_args(argv))

    main.__doc__ = f"`{prog or f'pushkin-lm-{name}'}` and `python code/{name}.py`"
    return main


train_main, generate_main, evaluate_main = (command_main(name) for name in ("train", "generate", "evaluate"))


def run(command: Callable[[argparse.Namespace], None], prog: str, args: argparse.Namespace) -> int:
    """Run `command`, every failure a user can fix as one line on stderr; returns the exit status."""
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): print() would drop everything
            raise PushkinLMError("standard output is closed; send it to a file or a terminal")
        command(args)
        sys.stdout.flush()
    except TrainingInterrupted as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 130
    except PushkinLMError as err:
        if not _said_by_rank_0():
            print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `| head`: the reader has gone, which is fine
        _discard_stdout()
        return 0
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding
        print(
            f"{prog}: error: standard output cannot encode this text (its encoding is {encoding}); "
            "set PYTHONIOENCODING=utf-8 or a UTF-8 locale",
            file=sys.stderr,
        )
        return 2
    except OSError as err:  # every file the library writes raises PushkinLMError: this is stdout
        _discard_stdout()
        print(f"{prog}: error: cannot write the output: {err.strerror or err}", file=sys.stderr)
        return 2
    return 0


def _said_by_rank_0() -> bool:
    """Whether this is a process after the first of a torchrun world, where every process reads the
    same flags and data and fails alike: the first one's line is enough. (Started by hand, without
    torchrun, each process says its own.)"""
    rank = os.environ.get("RANK", "0")
    return "TORCHELASTIC_RUN_ID" in os.environ and rank.isdigit() and int(rank) > 0


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor behind stdout
        pass
