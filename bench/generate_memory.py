"""Peak resident memory of generation: by characters written, and by length of the prompt read.

    python bench/generate_memory.py [--lengths 1000 10000 100000]
        [--prompt_lengths 1000 30000 100000] [--checkpoint DIR] [--json]

Each case runs in a fresh process (the real `code/generate.py`, output discarded), and the
kernel's peak resident set size of that very process is reported. With the bounded key/value
cache and prompts read in chunks with carried state, neither figure should grow with the length.
Prompts are a well-known public-domain line of Onegin repeated to the length asked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENERATE = Path(__file__).resolve().parents[1] / "code" / "generate.py"
PROMPT_LINE = "Мой дядя самых честных правил,\n"


def peak_rss(command: list[str], expect: int = 0) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of one process running `command`, which must exit with
    status `expect` (bench/peak_memory.py measures refusals too); its output is discarded."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a long stderr cannot block the child
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not the largest so far
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != expect:
            errors.seek(0)
            last = errors.read().decode(errors="replace").strip().splitlines()[-1:]
            raise SystemExit(f"{' '.join(command)[:200]} exited with status {process.returncode}: {last}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def peak_rss_mib(args: list[str]) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of one `code/generate.py` process run with `args`."""
    return peak_rss([sys.executable, str(GENERATE), *args])


def measure(kind: str, length: int, checkpoint: str | None, workdir: Path) -> dict:
    args = ["--seed", "0"] + (["--checkpoint", checkpoint] if checkpoint else [])
    if kind == "new chars":
        args += ["--max_tokens", str(length)]
    else:
        prompt = workdir / f"prompt-{length}.txt"
        prompt.write_text((PROMPT_LINE * (length // len(PROMPT_LINE) + 1))[:length], encoding="utf-8")
        args += ["--prompt_file", str(prompt), "--max_tokens", "100"]
    rss, seconds = peak_rss_mib(args)
    return {"case": kind, "chars": length, "peak_rss_mib": round(rss, 1), "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[1000, 10_000, 100_000])
    parser.add_argument("--prompt_lengths", type=int, nargs="*", default=[1000, 30_000, 100_000])
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    cases = [("new chars", n) for n in args.lengths] + [("prompt chars", n) for n in args.prompt_lengths]
    with tempfile.TemporaryDirectory() as workdir:
        rows = [measure(kind, n, args.checkpoint, Path(workdir)) for kind, n in cases]
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{'case':>12} {'chars':>9} {'peak RSS MiB':>13} {'seconds':>8}")
    for row in rows:
        print(f"{row['case']:>12} {row['chars']:>9,} {row['peak_rss_mib']:>13.1f} {row['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
