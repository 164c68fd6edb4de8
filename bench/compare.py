"""pushkin-lm against its ablation and a nanoGPT-style baseline, each for the same wall-clock budget.

    python bench/compare.py --minutes 10 [--data ../shared/data/pushkin_new/train.txt]
        [--only a b c d] [--set NAME=VALUE ...] [--json_out FILE] [--render FILE]

Trains, one after the other on the standard split (first 90 % trains, last 10 % validates):
  (a) pushkin-lm's default configuration, exactly as `python code/train.py` trains it,
  (b) the same with the attention block switched off (a plain LSTM),
  (c) a small character GPT in nanoGPT's CPU recipe (bench/gpt.py),
  (d) the best plain-LSTM recipe the experiments found: (b) with embedding dropout 0.1,
then prints one table and writes it as JSON. MFU is model FLOPs per second over the float32
matmul peak that bench/peak_flops.py measures on the same machine. pushkin-lm's rows are
calibrated as training does by default (an output temperature fitted on the last 5 % of the
training split, held out from training); the JSON also holds each one's validation loss at
temperature 1, on the same weights.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pushkin_lm.core.files import read_text  # noqa: E402
from pushkin_lm.core.vocab import CharVocab  # noqa: E402
from pushkin_lm.data.corpus import split_train_val  # noqa: E402
from pushkin_lm.model.config import ModelConfig  # noqa: E402
from pushkin_lm.model.network import Network  # noqa: E402
from pushkin_lm.model.scorer import score_ids  # noqa: E402
from pushkin_lm.store.checkpoint import load_checkpoint  # noqa: E402
from pushkin_lm.train.recipe import TrainConfig, new_run  # noqa: E402
from pushkin_lm.train.trainer import train  # noqa: E402

from corpus import DEFAULT_DATA, VAL_FRACTION  # noqa: E402
from gpt import train_gpt  # noqa: E402
from peak_flops import peak_gflops  # noqa: E402


def pushkin_flops_per_char(cfg: ModelConfig, block_size: int) -> float:
    """Training FLOPs per character: 6 per weight (forward + backward) + attention scores."""
    model = Network(cfg)
    weights = model.num_params() - model.embed.weight.numel()
    attention = 12 * cfg.hidden_size * min(block_size, cfg.attn_window) if cfg.attention else 0
    return 6 * weights + attention


def run_pushkin(args: argparse.Namespace, val_ids: torch.Tensor, settings: dict) -> dict:
    """Train pushkin-lm with the default recipe and these settings (over the --set ones) for
    --minutes on --data; keep its run under --keep."""
    with tempfile.TemporaryDirectory() as scratch:
        name = "-".join(f"{k}={v}" for k, v in settings.items()) or "default"
        out = args.keep / name if args.keep else Path(scratch)
        # The settings a new `python code/train.py` run gets, on the CPU, as the GPT row uses:
        # the comparison is per CPU-minute even where a GPU is present.
        fixed = {"data": str(args.data), "out": str(out), "max_minutes": args.minutes, "device": "cpu"}
        cfg, model_cfg = new_run("default", {**args.set, **settings, **fixed, "progress": False})
        result = train(cfg, model_cfg, log=lambda *_: None, overwrite=True)
        best = load_checkpoint(out / "best")
        uncalibrated = score_ids(best.model, val_ids)  # what calibration adds, on the same weights
    return {
        "params": best.model.num_params(),
        "iterations": result["steps"],
        "chars_seen": result["steps"] * cfg.batch_size * cfg.block_size,
        "train_seconds": result["train_seconds"],
        "train_nats_per_char": result["train_nats_per_char"],
        "val_nats_per_char": result["best_val_nats_per_char"],  # the checkpoint training keeps
        "final_val_nats_per_char": result["val_nats_per_char"],
        "temperature": best.temperature,  # fitted on the calibration slice held out from training
        "uncalibrated_val_nats_per_char": uncalibrated,
        "flops_per_char": pushkin_flops_per_char(best.model.cfg, cfg.block_size),
    }


def table(result: dict) -> str:
    """The comparison as a Markdown table; val is the best evaluation (the checkpoint kept)."""
    lines = [
        f"budget {result['minutes']:g} min per model, {result.get('threads', '?')} threads, "
        f"float32 matmul peak {result['peak_gflops']:.0f} GFLOP/s",
        "",
        "| | model | params | iters | chars seen | train nats | val nats (best) | val nats (final) "
        "| val bits (best) | temperature | train chars/s | MFU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        final = r.get("final_val_nats_per_char", r["val_nats_per_char"])
        temperature = f"{r['temperature']:.2f}" if "temperature" in r else "—"
        lines.append(
            f"| ({r['key']}) | {r['model']} | {r['params']:,} | {r['iterations']:,} | {r['chars_seen']:,} "
            f"| {r['train_nats_per_char']:.4f} | {r['val_nats_per_char']:.4f} | {final:.4f} "
            f"| {r['val_nats_per_char'] / math.log(2):.4f} | {temperature} "
            f"| {r['chars_per_second']:,.0f} | {r['mfu']:.1%} |"
        )
    return "\n".join(lines)


def setting(item: str) -> tuple[str, object]:
    """`NAME=VALUE` of --set, the value read as JSON where it is JSON (64, 0.1, false), else a string."""
    name, sep, value = item.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget per model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the corpus text file")
    parser.add_argument("--json_out", type=Path, default=Path("bench/results/compare.json"))
    parser.add_argument("--only", choices=["a", "b", "c", "d"], nargs="*", help="run only these rows")
    parser.add_argument("--keep", type=Path, help="keep the pushkin-lm runs' checkpoints under this folder")
    parser.add_argument("--render", type=Path, help="only print the table of an earlier run's JSON")
    parser.add_argument(
        "--set",
        type=setting,
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="training or model settings of every pushkin-lm row (e.g. hidden_size=64); a row's own win",
    )
    parser.add_argument("--peak_gflops", type=float, help="the matmul peak for MFU (default: measured)")
    args = parser.parse_args()
    args.set = dict(args.set)
    unknown = set(args.set) - {f.name for cls in (TrainConfig, ModelConfig) for f in fields(cls)}
    if unknown:
        parser.error(f"--set: no training or model setting is named {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    if args.render:
        print(table(json.loads(args.render.read_text())))
        return

    text = read_text(args.data)
    vocab = CharVocab.build(text)
    train_ids, val_ids = split_train_val(torch.tensor(vocab.encode(text)), VAL_FRACTION)
    peak = (args.peak_gflops or peak_gflops()) * 1e9

    def pushkin(settings: dict) -> dict:
        return run_pushkin(args, val_ids, settings)

    runs = {
        "a": ("pushkin-lm default (LSTM + attention)", lambda: pushkin({})),
        "b": ("ablation: attention off (plain LSTM)", lambda: pushkin({"attention": False})),
        "c": (
            "nanoGPT-style char GPT (4x4x128, block 64)",
            lambda: train_gpt(train_ids, val_ids, len(vocab), args.minutes),
        ),
        "d": (
            "best plain-LSTM recipe: embedding dropout 0.1",
            lambda: pushkin({"attention": False, "embed_dropout": 0.1}),
        ),
    }
    rows = []
    for key in args.only or runs:
        name, run = runs[key]
        print(f"training ({key}) {name} for {args.minutes:g} min ...", file=sys.stderr, flush=True)
        row = {"key": key, "model": name, **run()}
        row["chars_per_second"] = row["chars_seen"] / row["train_seconds"]
        row["mfu"] = row["flops_per_char"] * row["chars_per_second"] / peak
        rows.append(row)

    threads = torch.get_num_threads()
    result = {"minutes": args.minutes, "threads": threads, "peak_gflops": peak / 1e9, "rows": rows}
    print(table(result))
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json_out}", file=sys.stderr)


if __name__ == "__main__":
    main()
