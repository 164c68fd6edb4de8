"""README's samples, regenerated from their commands: `python docs/readme_samples.py`.

Each sample in README.md is a ```text block right after a marker that names its command:

    <!-- sample: python code/generate.py --form onegin --seed 7 -->

The command runs from the checkout's root with this Python (a command that names `stanza.txt` finds
the sample above it in that file, as README's scansion example does), and its output replaces the
block. `--check` changes nothing and exits 1 where a sample no longer comes out of its command;
tests/test_readme.py runs the same comparison.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKED = re.compile(r"<!-- sample: (?P<command>.+?) -->\n+```text\n(?P<text>.*?)```\n", re.DOTALL)
PREVIOUS = "stanza.txt"  # the file name by which a command reads the sample before it


@dataclass
class Sample:
    command: str
    text: str  # as README shows it, without the block's last newline
    start: int  # where the block's text begins and ends in README
    end: int


def samples(readme: str) -> list[Sample]:
    """README's marked samples, in order."""
    found = []
    for match in MARKED.finditer(readme):
        text = match["text"].removesuffix("\n")
        found.append(Sample(match["command"], text, match.start("text"), match.end("text")))
    return found


def run(command: str, previous: str | None) -> str:
    """What `command` prints, its trailing newlines cut as README's blocks end."""
    words = shlex.split(command)
    # This environment's Python and its console script, whatever is first on PATH.
    program = {"python": sys.executable, "pushkin-lm": str(Path(sys.executable).with_name("pushkin-lm"))}
    words = [program[words[0]], *words[1:]]
    with tempfile.TemporaryDirectory() as scratch:
        if PREVIOUS in words:
            if previous is None:
                raise SystemExit(f"{command!r} reads {PREVIOUS}, but no sample comes before it")
            Path(scratch, PREVIOUS).write_text(previous + "\n", encoding="utf-8")
            words = [str(Path(scratch, PREVIOUS)) if word == PREVIOUS else word for word in words]
        done = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"{command!r} failed:\n{done.stderr}")
    return done.stdout.rstrip("\n")


def regenerate(readme: str) -> tuple[str, list[str]]:
    """README with every sample written afresh, and the commands whose output had changed."""
    pieces, changed, at, previous = [], [], 0, None
    for sample in samples(readme):
        text = run(sample.command, previous)
        if text != sample.text:
            changed.append(sample.command)
        pieces += [readme[at : sample.start], text + "\n"]
        at, previous = sample.end, text
    return "".join(pieces) + readme[at:], changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 where a sample is stale")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    fresh, changed = regenerate(readme)
    for command in changed:
        print(f"{'stale' if args.check else 'rewritten'}: {command}")
    if not args.check and changed:
        README.write_text(fresh, encoding="utf-8")
    print(f"{len(samples(readme))} samples, {len(changed)} changed")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
