"""Two checkouts of this project side by side, each with its own code and shipped model: seconds per
Onegin stanza and characters per second of free sampling.

    git worktree add /tmp/old ff112ae    # the tree to compare against, e.g. the previous release
    python bench/two_trees.py /tmp/old . [--stanzas 8] [--chars 2000] [--rounds 2] [--json]

`bench/two_models.py` runs two checkpoints through one generator; this runs what a user of each
checkout gets from `generate --form onegin`: its generator and its checkpoints/pushkin-lm. A
process per tree and round (`PYTHONPATH` set to the tree, one thread) loads the model and the stress
model, writes one untimed stanza (seed 0: the lexicon and the int8 packing are read then), then
times Onegin stanzas of seeds 1..`--stanzas` and `--chars` characters of free sampling (temperature
0.8, seed 1). The trees take turns, round by round, so that a busy spell of the machine falls on
both; the best round of each is kept; NEW / OLD is the ratio to quote. Trees from ff112ae on are
read (the package's flat layout before the folders came).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# Run inside each tree: its own modules, whichever layout it has.
MEASURE = """
import json, sys, time
import torch
try:
    from pushkin_lm.model.decoder import Decoder
    from pushkin_lm.sampling.config import SampleConfig
    from pushkin_lm.sampling.forms import generate_form
    from pushkin_lm.sampling.sample import generate
    from pushkin_lm.store.checkpoint import load_checkpoint
except ImportError:  # the flat layout of the first releases
    from pushkin_lm.checkpoint import load_checkpoint
    from pushkin_lm.decoder import Decoder
    from pushkin_lm.forms import generate_form
    from pushkin_lm.sample import SampleConfig, generate
from pushkin_lm.verse import stress

torch.set_num_threads(1)
tree, stanzas, chars = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
checkpoint = load_checkpoint(f"{tree}/checkpoints/pushkin-lm")
decoder, vocab = Decoder(checkpoint.model), checkpoint.vocab
stress._load_model()
"".join(generate_form(decoder, vocab, "", SampleConfig(seed=0), "onegin"))
start = time.perf_counter()
for seed in range(1, stanzas + 1):
    "".join(generate_form(decoder, vocab, "", SampleConfig(seed=seed), "onegin"))
seconds = (time.perf_counter() - start) / stanzas
start = time.perf_counter()
text = "".join(generate(decoder, vocab, "", SampleConfig(max_tokens=chars, temperature=0.8, seed=1)))
print(json.dumps({"seconds_per_stanza": seconds, "chars_per_s": len(text) / (time.perf_counter() - start)}))
"""


def measure(tree: Path, stanzas: int, chars: int) -> dict[str, float]:
    """One round in a fresh process that imports only `tree`'s package."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tree), str(stanzas), str(chars)],
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"measuring {tree} failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="a checkout of this project (e.g. a git worktree)")
    parser.add_argument("new", type=Path, help="another checkout, e.g. . for this one")
    parser.add_argument("--stanzas", type=int, default=8, help="Onegin stanzas per round (seeds 1..n)")
    parser.add_argument("--chars", type=int, default=2000, help="characters of free sampling per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per tree; the best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    for tree in trees.values():
        if not (tree / "pushkin_lm").is_dir() or not (tree / "checkpoints" / "pushkin-lm").is_dir():
            parser.error(f"{tree} is not a checkout of pushkin-lm with its shipped model: give a worktree")
    seconds = dict.fromkeys(trees, float("inf"))
    speed = dict.fromkeys(trees, 0.0)
    for _ in range(args.rounds):
        for name, tree in trees.items():
            got = measure(tree, args.stanzas, args.chars)
            seconds[name] = min(seconds[name], got["seconds_per_stanza"])
            speed[name] = max(speed[name], got["chars_per_s"])
    result = {
        "trees": {name: str(tree) for name, tree in trees.items()},
        "seconds_per_stanza": {name: round(value, 3) for name, value in seconds.items()},
        "chars_per_s": {name: round(value) for name, value in speed.items()},
        "stanza_time_ratio_new_over_old": round(seconds["new"] / seconds["old"], 3),
        "speed_ratio_new_over_old": round(speed["new"] / speed["old"], 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    for name, tree in trees.items():
        print(f"{name} ({tree}): {seconds[name]:.2f} s per Onegin stanza, {speed[name]:,.0f} chars/s")
    print(f"new / old: stanza time {result['stanza_time_ratio_new_over_old']:.3f}x, "
          f"speed {result['speed_ratio_new_over_old']:.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
