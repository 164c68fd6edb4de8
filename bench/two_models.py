"""Two checkpoints side by side, in one process on one thread: sampling speed and seconds per stanza.

    python bench/two_models.py OLD NEW [--chars 2000] [--stanzas 3] [--rounds 3] [--json]

For each checkpoint, interleaved round by round so that both see the same machine: characters
per second of free sampling (`pushkin_lm.sampling.sample.generate`, int8, temperature 0.8, `--chars`
characters from an empty prompt) and seconds per Onegin stanza (`pushkin_lm.sampling.forms.generate_form`,
seeds 1..`--stanzas`). The best round of each is kept; NEW / OLD is the ratio to quote. The
stress model is loaded before the first round, so no stanza pays for it.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.forms import generate_form
from pushkin_lm.sampling.sample import generate
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.verse import prefetch


def sampling_rate(decoder: Decoder, vocab, chars: int) -> float:
    start = time.perf_counter()
    text = "".join(generate(decoder, vocab, "", SampleConfig(max_tokens=chars, seed=1)))
    return len(text) / (time.perf_counter() - start)


def stanza_seconds(decoder: Decoder, vocab, stanzas: int) -> float:
    start = time.perf_counter()
    for seed in range(1, stanzas + 1):
        "".join(generate_form(decoder, vocab, "", SampleConfig(seed=seed), "onegin"))
    return (time.perf_counter() - start) / stanzas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="checkpoint folder or shipped name")
    parser.add_argument("new", help="checkpoint folder or shipped name")
    parser.add_argument("--chars", type=int, default=2000, help="characters of free sampling per round")
    parser.add_argument("--stanzas", type=int, default=3, help="Onegin stanzas per round (seeds 1..n)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = {name: load_checkpoint(name) for name in (args.old, args.new)}
    models = {name: (Decoder(c.model), c.vocab) for name, c in loaded.items()}
    prefetch(["мой", "дядя"])
    rate = dict.fromkeys(models, 0.0)
    seconds = dict.fromkeys(models, float("inf"))
    for _ in range(args.rounds):
        for name, (decoder, vocab) in models.items():
            rate[name] = max(rate[name], sampling_rate(decoder, vocab, args.chars))
            seconds[name] = min(seconds[name], stanza_seconds(decoder, vocab, args.stanzas))
    result = {
        "chars_per_s": {name: round(value) for name, value in rate.items()},
        "seconds_per_stanza": {name: round(value, 2) for name, value in seconds.items()},
        "speed_ratio_new_over_old": round(rate[args.new] / rate[args.old], 3),
        "stanza_time_ratio_new_over_old": round(seconds[args.new] / seconds[args.old], 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    for name in models:
        print(f"{name}: {rate[name]:,.0f} chars/s, {seconds[name]:.2f} s per Onegin stanza")
    print(f"new / old: speed {result['speed_ratio_new_over_old']:.3f}x, "
          f"stanza time {result['stanza_time_ratio_new_over_old']:.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
