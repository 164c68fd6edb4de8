"""Peak resident memory of every command at the largest input it accepts, and at a sixteenth of it.

    python bench/peak_memory.py [--scale 1.0] [--commands attention generate ...] [--checkpoint DIR]
        [--json]

Each case runs the real command in a fresh process, and the kernel's peak resident set size of
that very process is reported (`generate_memory.peak_rss`). The inputs are the caps each command
reads to: a prompt or a text to scan of 16 MiB (`MAX_PROMPT_BYTES`), a text to train on or score
of 256 MiB (`MAX_TEXT_BYTES`), a run log of 16 MiB, the longest text `attention` draws; `--scale`
shrinks them all (the smoke test runs a ten-thousandth). The refusal beside them (a 4,000-character
`attention --text`) shows that what would not fit is refused before it is allocated; a stanza of
3,920 lines shows that scan's rhyme lettering grows with a stanza's length, not its square. The
text is Onegin's first stanza (public domain) over and over, 14 lines a stanza.

What grows with the input is the text's share; the network's own is fixed by its checkpoint and
checked before anything is allocated (model/memory.py). So generate, evaluate and train read their
long texts with a small network the script writes (hidden size 64, the text's own characters):
the shipped model reads some 3,000 characters a second on a 2-core CPU, and 256 MiB would take
13 hours. The shipped model (or --checkpoint) draws the attention picture and scores 1 MiB, for
its own share.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from generate_memory import peak_rss
from onegin import STANZA as ONEGIN

from pushkin_lm.core.files import MAX_PROMPT_BYTES, MAX_TEXT_BYTES
from pushkin_lm.publish.plot import longest_attention_text

STANZA = ONEGIN + "\n\n"  # a stanza and the blank line after it
PUSHKIN_LM = "import sys; from pushkin_lm.cli.main import main; sys.exit(main(sys.argv[1:]))"


def verse_file(path: Path, size: int, stanza: str = STANZA) -> Path:
    """A UTF-8 file of about `size` bytes (at most), whole stanzas of Onegin."""
    chunk = stanza.encode()
    with open(path, "wb") as out:
        for _ in range(max(1, size // len(chunk))):
            out.write(chunk)
    return path


def small_checkpoint(folder: Path) -> Path:
    """A small untrained network over the text's characters: what reads the long texts."""
    from pushkin_lm.core.vocab import CharVocab
    from pushkin_lm.model.config import ModelConfig
    from pushkin_lm.model.network import Network
    from pushkin_lm.store.checkpoint import save_checkpoint

    vocab = CharVocab.build(STANZA)
    config = ModelConfig(vocab_size=len(vocab), hidden_size=64, embed_dim=16, num_layers=1, num_heads=2)
    save_checkpoint(folder, Network(config), vocab, meta={})
    return folder


def wide_checkpoint(shipped: str | None, folder: Path) -> Path:
    """The model, with an attention window of 4,096: a text of 4,000 characters is in its window."""
    from pushkin_lm.store.checkpoint import resolve_checkpoint_dir

    shutil.copytree(resolve_checkpoint_dir(shipped), folder)
    config = json.loads((folder / "config.json").read_text())
    config["model"]["attn_window"] = 4096
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def run_log(path: Path, size: int) -> Path:
    """A run folder whose log.jsonl has about `size` bytes of evaluations (at least one)."""
    path.mkdir()
    with open(path / "log.jsonl", "w") as log:
        step, written = 0, 0
        while step == 0 or written < size - 200:
            step += 1
            row = {"step": step, "elapsed_s": step * 0.5, "train_s": step * 0.4}
            row |= {"train_nats_per_char": 2 + 1 / step, "val_nats_per_char": 2.1 + 1 / step}
            written += log.write(json.dumps(row) + "\n")
    return path


Case = tuple[str, list[str], int]  # the input in words, the arguments of `pushkin-lm`, the exit status


def sizes(cap: int, scale: float) -> list[tuple[str, int]]:
    """A sixteenth of `cap` and all of it, both scaled: (in words, bytes)."""
    return [(f"{int(cap * scale / k):,} bytes", int(cap * scale / k)) for k in (16, 1)]


def attention_cases(work: Path, scale: float, model: list[str]) -> list[Case]:
    from pushkin_lm.store.checkpoint import resolve_checkpoint_dir

    folder = resolve_checkpoint_dir(model[1] if model else None)
    config = json.loads((folder / "config.json").read_text())["model"]
    longest = longest_attention_text(config["num_heads"], config["attn_window"])
    text = STANZA.replace("\n\n", "\n") * 300
    drawn = ["attention", "--text", text[:longest], "--out", str(work / "a.png"), *model]
    wide = ["--checkpoint", str(work / "wide")]
    refused = ["attention", "--text", text[:4000], "--out", str(work / "b.png"), *wide]
    return [(f"--text of {longest} characters", drawn, 0), ("--text of 4,000, window 4,096", refused, 2)]


def generate_cases(work: Path, scale: float, model: list[str]) -> list[Case]:
    small = ["--checkpoint", str(work / "small"), "--max_tokens", "100"]
    return [
        (
            f"--prompt_file of {words}",
            ["generate", *small, "--prompt_file", str(verse_file(work / f"p{n}", n))],
            0,
        )
        for words, n in sizes(MAX_PROMPT_BYTES, scale)
    ]


def evaluate_cases(work: Path, scale: float, model: list[str]) -> list[Case]:
    own = ["evaluate", "--data", str(verse_file(work / "mib.txt", 2**20)), *model]
    small = ["evaluate", "--checkpoint", str(work / "small"), "--data"]
    texts = [
        (f"--data of {words}", [*small, str(verse_file(work / f"e{n}", n))], 0)
        for words, n in sizes(MAX_TEXT_BYTES, scale)
    ]
    return ([("--data of 1 MiB, the model's own share", own, 0)] if scale >= 1 else []) + texts


def train_cases(work: Path, scale: float, model: list[str]) -> list[Case]:
    flags = "--init_from none --hidden_size 64 --embed_dim 16 --num_layers 1 --num_heads 2 --block_size 32 "
    flags += "--batch_size 4 --max_iters 1 --eval_interval 1 --no_progress"
    return [
        (
            f"--data of {words}",
            [
                "train",
                *flags.split(),
                "--out",
                str(work / f"run{n}"),
                "--data",
                str(verse_file(work / f"t{n}", n)),
            ],
            0,
        )
        for words, n in sizes(MAX_TEXT_BYTES, scale)
    ]


def scan_cases(work: Path, scale: float, model: list[str]) -> list[Case]:
    files = [
        (f"FILE of {words}", ["scan", str(verse_file(work / f"s{n}", n))], 0)
        for words, n in sizes(MAX_PROMPT_BYTES, scale)
    ]
    repeats = max(1, round(280 * scale))  # 3,920 lines without a blank one, at full scale
    one_stanza = STANZA.replace("\n\n", "\n") * repeats + "\n"
    stanza_file = verse_file(work / "stanza", len(one_stanza.encode()), one_stanza)
    return files + [(f"one stanza of {14 * repeats:,} lines", ["scan", str(stanza_file)], 0)]


def plot_cases(work: Path, scale: float, model: list[str]) -> list[Case]:
    return [
        (
            f"log.jsonl of {words}",
            ["plot", str(run_log(work / f"log{n}", n)), "--png", str(work / f"{n}.png")],
            0,
        )
        for words, n in sizes(MAX_PROMPT_BYTES, scale)
    ]


CASES: dict[str, Callable[[Path, float, list[str]], list[Case]]] = {
    "attention": attention_cases,
    "generate": generate_cases,
    "evaluate": evaluate_cases,
    "train": train_cases,
    "scan": scan_cases,
    "plot": plot_cases,
}


def measure(
    commands: list[str], scale: float, checkpoint: str | None, log: Callable[[str], None]
) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        small_checkpoint(work / "small")
        wide_checkpoint(checkpoint, work / "wide")
        for command in commands:
            model = [] if checkpoint is None else ["--checkpoint", checkpoint]
            for what, args, expect in CASES[command](work, scale, model):
                rss, seconds = peak_rss([sys.executable, "-c", PUSHKIN_LM, *args], expect)
                row = {"command": command, "input": what, "refused": expect != 0}
                rows.append(row | {"peak_rss_mib": round(rss, 1), "seconds": round(seconds, 1)})
                ended = "refused" if expect else "done"
                log(f"{command:>9}  {what:<36} {ended:>7} {rss:9.1f} MiB {seconds:7.1f} s")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="a share of each command's largest input")
    parser.add_argument("--commands", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--checkpoint", help="the model that draws and scores 1 MiB (default: the shipped)")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of the table")
    args = parser.parse_args()
    quiet = lambda line: None  # noqa: E731
    if not args.json:
        print(f"{'command':>9}  {'input':<36} {'':>7} {'peak RSS':>13} {'seconds':>9}")
    rows = measure(args.commands, args.scale, args.checkpoint, quiet if args.json else print)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
