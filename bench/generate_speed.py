"""Sampling speed, single-threaded: the incremental sampler against naive recomputation.

    python bench/generate_speed.py [--chars 2000] [--window 256] [--checkpoint DIR] [--json]

Incremental: pushkin-lm's sampler, which feeds one character per step and carries the LSTM
state and a bounded key/value cache. Naive: what the original project and nanoGPT's sample.py
do -- re-run the model over the last `window` characters for every new character.
Both use the same model, sampling settings and seed, in the same process.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from pushkin_lm.checkpoint import load_checkpoint
from pushkin_lm.sample import generate, sample_next, start_context


def incremental_chars_per_second(model, vocab, chars: int) -> float:
    start = time.perf_counter()
    produced = sum(1 for _ in generate(model, vocab, "", chars, temperature=0.8, seed=0))
    return produced / (time.perf_counter() - start)


@torch.inference_mode()
def naive_chars_per_second(model, vocab, chars: int, window: int) -> float:
    generator = torch.Generator().manual_seed(0)
    ids = vocab.encode(start_context(vocab))
    start = time.perf_counter()
    for _ in range(chars):
        logits, _ = model(torch.tensor([ids[-window:]]))  # fresh state, whole window again
        logits = logits[0, -1]
        logits[0] = float("-inf")
        ids.append(sample_next(logits, 0.8, generator=generator))
    return chars / (time.perf_counter() - start)


@torch.inference_mode()
def step_chars_per_second(model, steps: int) -> float:
    """Model steps alone (no sampling), one character each: isolates the weights' memory traffic."""
    state, token = None, torch.tensor([[1]])
    for _ in range(50):
        _, state = model(token, state)
    start = time.perf_counter()
    for _ in range(steps):
        _, state = model(token, state)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=2000, help="new characters per method")
    parser.add_argument("--window", type=int, default=256, help="context the naive method re-reads")
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument(
        "--dtypes",
        action="store_true",
        help="also time bare model steps with float32, bfloat16 and float16 weights",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    incremental_chars_per_second(ckpt.model, ckpt.vocab, 50)  # warm up allocator and kernels
    incremental = incremental_chars_per_second(ckpt.model, ckpt.vocab, args.chars)
    naive = naive_chars_per_second(ckpt.model, ckpt.vocab, args.chars, args.window)
    result = {
        "chars": args.chars,
        "window": args.window,
        "threads": 1,
        "incremental_chars_per_s": round(incremental, 1),
        "naive_chars_per_s": round(naive, 1),
        "speedup": round(incremental / naive, 2),
    }
    if args.dtypes:
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            model = load_checkpoint(args.checkpoint).model.to(dtype)
            result[f"steps_per_s_{str(dtype).removeprefix('torch.')}"] = round(
                step_chars_per_second(model, 1000), 1
            )
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.chars} chars, 1 thread: incremental {incremental:,.0f} chars/s, naive (window "
            f"{args.window}) {naive:,.0f} chars/s, speedup {incremental / naive:.1f}x"
        )
        for key, value in result.items():
            if key.startswith("steps_per_s_"):
                print(f"bare model steps, {key.removeprefix('steps_per_s_')} weights: {value:,.0f}/s")


if __name__ == "__main__":
    main()
