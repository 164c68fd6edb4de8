"""Training throughput on 1 and 2 processes (torchrun, one thread each), side by side in one run.

    python bench/distributed_scaling.py --data train.txt [--layouts 1x1 2x1 1x2] [--steps 40]
        [--rounds 2] [--json] [-- more train.py flags]

A layout PxT is P processes of T threads each. Each run trains the default network
(`batch_size` lanes of `block_size` characters per process) with
`torchrun --standalone --nproc_per_node=P code/train.py --threads T`; the layouts alternate,
round after round, so a change in the machine's load falls on all of them alike.
Characters per second count training steps alone, from the evaluation halfway through the run
(after warm-up) to the last one, by the `train_s` that log.jsonl records; the median over the
rounds is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train_once(data: str, layout: tuple[int, int], steps: int, flags: list[str], out: Path) -> dict:
    """One run of `layout` (processes, threads each); its characters per second between its two
    evaluations."""
    processes, threads = layout
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += [
        "code/train.py",
        "--data",
        data,
        "--out",
        str(out),
        "--threads",
        str(threads),
        "--no_progress",
    ]
    command += ["--max_iters", str(steps), "--eval_interval", str(steps // 2), "--max_minutes", "600", *flags]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    half, last = (json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()[-2:])
    saved = json.loads((out / "best" / "config.json").read_text())["meta"]["train_config"]
    chars = (last["step"] - half["step"]) * saved["batch_size"] * saved["block_size"] * processes
    window = {"batch_size_per_process": saved["batch_size"], "block_size": saved["block_size"]}
    seconds = last["train_s"] - half["train_s"]
    if seconds <= 0:
        sys.exit(f"the timed half of the run took no measurable time; use more --steps than {steps}")
    return {"chars_per_s": chars / seconds, **window}


def parse_layout(text: str) -> tuple[int, int]:
    """`PxT` as (processes, threads each)."""
    processes, _, threads = text.partition("x")
    if not (processes.isdigit() and threads.isdigit() and int(processes) > 0 and int(threads) > 0):
        raise argparse.ArgumentTypeError(f"a layout is PxT, e.g. 2x1 (2 processes of 1 thread), not {text!r}")
    return int(processes), int(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="text file to train on")
    parser.add_argument(
        "--layouts",
        type=parse_layout,
        nargs="+",
        default=[(1, 1), (2, 1)],
        help="PxT: P processes of T threads",
    )
    parser.add_argument("--steps", type=int, default=40, help="steps per run; the second half is timed")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each process count")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("train_flags", nargs="*", help="after --: more code/train.py flags")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2: the second half of the run is timed")

    runs: dict[tuple[int, int], list[float]] = {chosen: [] for chosen in args.layouts}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            for chosen in args.layouts:
                out = Path(scratch) / f"{chosen[0]}x{chosen[1]}-{round_}"
                run = train_once(args.data, chosen, args.steps, args.train_flags, out)
                runs[chosen].append(run.pop("chars_per_s"))
    base = statistics.median(runs[args.layouts[0]])
    rows = [
        {
            "processes": processes,
            "threads_each": threads,
            "chars_per_s": statistics.median(speeds),
            "speedup": statistics.median(speeds) / base,
            "runs": speeds,
        }
        for (processes, threads), speeds in runs.items()
    ]
    settings = {"steps": args.steps, "rounds": args.rounds, **run}
    if args.json:
        print(json.dumps({**settings, "train_flags": args.train_flags, "rows": rows}, indent=2))
        return
    print(
        f"{args.rounds} rounds of {args.steps} steps, the second half timed; {run['batch_size_per_process']} "
        f"lanes of {run['block_size']} characters per process; {' '.join(args.train_flags)}"
    )
    print("processes  threads each  chars/s  speed-up")
    for row in rows:
        layout = f"{row['processes']:>9}  {row['threads_each']:>12}"
        print(f"{layout}  {row['chars_per_s']:>7,.0f}  {row['speedup']:>7.2f}x")


if __name__ == "__main__":
    main()
