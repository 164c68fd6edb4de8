"""Peak resident memory of generation at 1k, 10k and 100k new characters.

    python bench/generate_memory.py [--lengths 1000 10000 100000] [--checkpoint DIR] [--json]

Each length runs in a fresh process (the real `code/generate.py`, output discarded), and the
kernel's peak resident set size of that process is reported. With the bounded key/value cache
the figure should not grow with the length.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

GENERATE = Path(__file__).resolve().parents[1] / "code" / "generate.py"


def peak_rss_mib(chars: int, checkpoint: str | None) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of one generation run of `chars` characters."""
    args = [sys.executable, str(GENERATE), "--max_tokens", str(chars), "--seed", "0"]
    if checkpoint:
        args += ["--checkpoint", checkpoint]
    start = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, check=True)
    seconds = time.perf_counter() - start
    # RUSAGE_CHILDREN holds the largest peak of any child so far, so lengths run in rising order.
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rows = []
    for chars in sorted(args.lengths):
        rss, seconds = peak_rss_mib(chars, args.checkpoint)
        rows.append({"chars": chars, "peak_rss_mib": round(rss, 1), "seconds": round(seconds, 1)})
    if args.json:
        print(json.dumps(rows))
    else:
        print(f"{'new chars':>10} {'peak RSS MiB':>13} {'seconds':>8}")
        for row in rows:
            print(f"{row['chars']:>10,} {row['peak_rss_mib']:>13.1f} {row['seconds']:>8.1f}")


if __name__ == "__main__":
    main()
