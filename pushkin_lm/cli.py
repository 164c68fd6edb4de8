"""The command line: `pushkin-lm train|generate|evaluate|plot|attention|scan|push|demo`; the first three
also as `pushkin-lm-train`, `pushkin-lm-generate`, `pushkin-lm-evaluate` and `python code/*.py`.

Each command parses its flags with argparse and calls the library (`commands.py`); a
`PushkinLMError`, or output that cannot be written, becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__, commands, demo, hub, tools
from .errors import PushkinLMError, TrainingInterrupted

Command = Callable[[argparse.Namespace], None]
COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command, str]] = {
    "train": (
        commands.train_flags,
        commands.train,
        "Train the LSTM + attention character model: by default on the Pushkin corpus (downloaded from "
        "the Hugging Face Hub) for 10 minutes, on a CUDA GPU where torch sees one, else on the CPU.",
    ),
    "generate": (
        commands.generate_flags,
        commands.generate,
        "Write verse with a trained model, streaming it to stdout as it is sampled.",
    ),
    "evaluate": (
        commands.evaluate_flags,
        commands.evaluate,
        "Score a text file with a model: nats and bits per character over the whole file.",
    ),
    "plot": (
        tools.plot_flags,
        tools.plot,
        "Draw a training run's curves: nats/char against steps and against time, the best marked.",
    ),
    "attention": (
        tools.attention_flags,
        tools.attention,
        "Draw what each attention head of a model looks at over a line of verse, as a heat-map.",
    ),
    "demo": (
        demo.demo_flags,
        demo.demo,
        "Serve a web page that writes verse as you watch (Gradio): prompt, verse form, sampling "
        "settings, Generate and Stop, the scansion beside the verse; on 127.0.0.1:7860 by default.",
    ),
    "push": (
        hub.push_flags,
        hub.push,
        "Publish a training run's best checkpoint (or a checkpoint folder) to the Hugging Face Hub "
        "with its model card.",
    ),
    "scan": (
        tools.scan_flags,
        tools.scan,
        "Scan verse: stresses, syllables, meter and rhyme letters of each line, stanza by stanza.",
    ),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage dump) and exit status 2."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_abbrev=False, formatter_class=HelpFormatter, **kwargs)  # a typo is an error
        self.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default only where it has a real one (settings' flags say theirs in the help)."""

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
    for name, (add_flags, _, description) in COMMANDS.items():
        add_flags(subcommands.add_parser(name, help=description.split(":")[0], description=description))
    args = parser.parse_args(argv)
    return _run(COMMANDS[args.command][1], f"pushkin-lm {args.command}", args)


def _command_main(name: str) -> Callable[[Sequence[str] | None], int]:
    def run(argv: Sequence[str] | None = None) -> int:
        add_flags, command, description = COMMANDS[name]
        parser = ArgumentParser(prog=f"pushkin-lm-{name}", description=description)
        add_flags(parser)
        return _run(command, parser.prog, parser.parse_args(argv))

    run.__doc__ = f"`pushkin-lm-{name}` and `python code/{name}.py`"
    return run


train_main, generate_main, evaluate_main = (_command_main(name) for name in ("train", "generate", "evaluate"))


def _run(command: Command, prog: str, args: argparse.Namespace) -> int:
    try:
        if sys.stdout is None:  # started with stdout closed (`>&-`): print() would drop everything
            raise PushkinLMError("standard output is closed; send it to a file or a terminal")
        command(args)
        sys.stdout.flush()
    except TrainingInterrupted as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 130
    except PushkinLMError as err:
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


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush cannot fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor behind stdout
        pass
