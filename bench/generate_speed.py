"""Sampling speed, single-threaded: the incremental sampler against naive recomputation.

    python bench/generate_speed.py [--chars 2000] [--window 256] [--checkpoint DIR] [--json]

Incremental: pushkin-lm's sampler (`pushkin_lm.sampling.sample.generate`), which reads the prompt once
and then feeds one character per step to a `Decoder` carrying the LSTM state and a bounded
key/value cache; timed with int8 weights (the default) and with float32 weights. Naive: what the
original project and nanoGPT's sample.py do -- re-run the model over the last `window`
characters for every new character. All use the same model, sampling settings and seed, in the
same process. The price of int8 weights is reported too: nats/char of the decoder over the first
`--score_chars` characters of the validation split, int8 against float32.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from pushkin_lm.core.files import read_text
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import generate, sample_next, start_context
from pushkin_lm.store.checkpoint import load_checkpoint

from corpus import DEFAULT_DATA, VAL_FRACTION


def incremental_chars_per_second(model, vocab, chars: int, int8: bool) -> float:
    start = time.perf_counter()  # building the decoder (int8 packing) counts as generation time
    decoder = Decoder(model, int8=int8)
    produced = sum(
        1 for _ in generate(decoder, vocab, "", SampleConfig(max_tokens=chars, temperature=0.8, seed=0))
    )
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
        ids.append(sample_next(logits, SampleConfig(temperature=0.8), generator))
    return chars / (time.perf_counter() - start)


@torch.inference_mode()
def decoder_nats_per_char(model, ids: list[int], int8: bool) -> float:
    """Cross-entropy of the step-by-step decoder over `ids`, as generation computes it."""
    decoder, total = Decoder(model, int8=int8), 0.0
    for current, following in zip(ids[:-1], ids[1:], strict=True):
        total -= torch.log_softmax(decoder.step(current), 0)[following].item()
    return total / (len(ids) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=2000, help="new characters per method")
    parser.add_argument("--window", type=int, default=256, help="context the naive method re-reads")
    parser.add_argument("--checkpoint", help="checkpoint folder (default: the shipped model)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="train.txt, for the int8 price")
    parser.add_argument("--score_chars", type=int, default=10_000, help="validation characters scored")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    model, vocab = ckpt.model, ckpt.vocab
    incremental_chars_per_second(model, vocab, 50, int8=True)  # warm up allocator and kernels
    int8 = incremental_chars_per_second(model, vocab, args.chars, int8=True)
    float32 = incremental_chars_per_second(model, vocab, args.chars, int8=False)
    naive = naive_chars_per_second(model, vocab, args.chars, args.window)
    _, val = split_train_val(torch.tensor(vocab.encode(read_text(args.data))), VAL_FRACTION)
    val_ids = val[: args.score_chars].tolist()
    nats = {name: decoder_nats_per_char(model, val_ids, name == "int8") for name in ("int8", "float32")}
    result = {
        "chars": args.chars,
        "window": args.window,
        "threads": 1,
        "incremental_int8_chars_per_s": round(int8, 1),
        "incremental_float32_chars_per_s": round(float32, 1),
        "naive_chars_per_s": round(naive, 1),
        "speedup_int8_over_naive": round(int8 / naive, 2),
        "score_chars": len(val_ids),
        "val_nats_per_char_int8": round(nats["int8"], 4),
        "val_nats_per_char_float32": round(nats["float32"], 4),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.chars} new chars, 1 thread")
    print(f"incremental, int8 weights    {int8:8,.0f} chars/s  ({int8 / naive:.1f}x naive)")
    print(f"incremental, float32 weights {float32:8,.0f} chars/s  ({float32 / naive:.1f}x naive)")
    print(f"naive, window {args.window:<4}          {naive:8,.0f} chars/s")
    print(
        f"decoder over {len(val_ids):,} validation chars: int8 {nats['int8']:.4f} nats/char "
        f"({nats['int8'] / math.log(2):.4f} bits), float32 {nats['float32']:.4f} "
        f"({nats['float32'] / math.log(2):.4f} bits)"
    )


if __name__ == "__main__":
    main()
