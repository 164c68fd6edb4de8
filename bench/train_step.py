"""Seconds per training step of the default network, eager and under torch.compile, in one run.

    python bench/train_step.py [--steps 10] [--no_attention] [--no_compile] [--hidden_size 512] [--no_bf16]
        [--json]

One step is what `Trainer` does: forward under bf16 autocast (where the CPU has native bf16),
cross-entropy, backward, AdamW, on a batch of 32 random 128-character windows with the default
model settings. Both variants start from the same weights; each is warmed up (compiling
included) before it is timed, and the compile time is reported separately.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F

from pushkin_lm.core.device import native_bf16
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.network import Network
from pushkin_lm.train.learner import make_optimizer
from pushkin_lm.train.recipe import TrainConfig

VOCAB_SIZE = 132  # the Pushkin corpus's vocabulary, unknown-character slot included
WARMUP_STEPS = 3


def time_steps(model: Network, forward, steps: int, bf16: bool) -> tuple[float, float]:
    """Seconds for the warm-up steps, and seconds per step after them."""
    cfg = TrainConfig()
    optimizer = make_optimizer(model, cfg)
    batches = torch.Generator().manual_seed(0)

    def step() -> None:
        x = torch.randint(VOCAB_SIZE, (cfg.batch_size, cfg.block_size + 1), generator=batches)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, _ = forward(x[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    started = time.perf_counter()
    for _ in range(WARMUP_STEPS):
        step()
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return warmup, (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--no_attention", action="store_true", help="time the plain LSTM")
    parser.add_argument("--no_compile", action="store_true", help="time eager mode only")
    parser.add_argument("--hidden_size", type=int, default=ModelConfig.hidden_size, help="LSTM width")
    parser.add_argument("--no_bf16", action="store_true", help="float32 even where the CPU has native bf16")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=VOCAB_SIZE, hidden_size=args.hidden_size, attention=not args.no_attention)
    model = Network(cfg)
    bf16 = native_bf16() and not args.no_bf16
    results = {
        "threads": torch.get_num_threads(),
        "bf16": bf16,
        "attention": cfg.attention,
        "hidden_size": cfg.hidden_size,
    }
    eager = copy.deepcopy(model)
    results["eager_warmup_s"], results["eager_step_s"] = time_steps(eager, eager, args.steps, bf16)
    if not args.no_compile:
        compiled = copy.deepcopy(model)
        results["compiled_warmup_s"], results["compiled_step_s"] = time_steps(
            compiled, torch.compile(compiled), args.steps, bf16
        )
        results["compiled_over_eager"] = results["compiled_step_s"] / results["eager_step_s"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{results['threads']} threads, bf16 {bf16}, attention {results['attention']}, {args.steps} steps")
    print(f"eager     {results['eager_step_s']:.3f} s/step")
    if not args.no_compile:
        print(
            f"compiled  {results['compiled_step_s']:.3f} s/step "
            f"({results['compiled_over_eager']:.2f}x eager; compiling and warm-up took "
            f"{results['compiled_warmup_s']:.0f} s)"
        )


if __name__ == "__main__":
    main()
