"""A decoder step for so many lanes at once, its int8 products through fbgemm and through oneDNN.

    python bench/lane_steps.py [--lanes 1 4 8 16 32 64] [--steps 30] [--checkpoint DIR] [--json]

From MANY_ROWS lanes on, `Decoder` multiplies through oneDNN on a CPU with AMX tiles and through
fbgemm elsewhere (`lanes_engine_for_this_cpu`). This prints, for the CPU it runs on, milliseconds
per `step_many` with each engine (one thread; after the read of a verse context; the best of
`--passes` passes of `--steps` steps, the engines and lane counts taking turns so that a busy
spell of the machine falls on all alike), so that the choice can be checked on any machine.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from pushkin_lm.model.decoder import MANY_ROWS, Decoder, lanes_engine_for_this_cpu
from pushkin_lm.store.checkpoint import load_checkpoint

CONTEXT = "Мой дядя самых честных правил,\nКогда не в шутку занемог,\n" * 3  # Onegin's opening
ENGINES = ("fbgemm", "onednn")


def step_ms(decoder: Decoder, lanes: int, steps: int) -> float:
    """Milliseconds per step of `lanes` lanes, over one pass of `steps` steps."""
    decoder.fork(lanes)
    ids = torch.full((lanes,), 5)
    decoder.step_many(ids)  # the weights are packed for the engine on first use
    start = time.perf_counter()
    for _ in range(steps):
        decoder.step_many(ids)
    decoder.unfork()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 4, 8, 16, 32, 64], help="lane counts")
    parser.add_argument("--steps", type=int, default=30, help="steps per pass")
    parser.add_argument("--passes", type=int, default=5, help="passes; the best of each is kept")
    parser.add_argument("--checkpoint", default="pushkin-lm", help="checkpoint folder or shipped name")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint)
    decoders = {engine: Decoder(checkpoint.model, lanes_engine=engine) for engine in ENGINES}
    for decoder in decoders.values():
        decoder.read(checkpoint.vocab.encode(CONTEXT))
    best = {engine: dict.fromkeys(args.lanes, float("inf")) for engine in ENGINES}
    for _ in range(args.passes):
        for lanes in args.lanes:
            for engine, decoder in decoders.items():
                best[engine][lanes] = min(best[engine][lanes], step_ms(decoder, lanes, args.steps))
    table = {engine: {lanes: round(ms, 3) for lanes, ms in row.items()} for engine, row in best.items()}
    result = {"chosen": lanes_engine_for_this_cpu(), "many_rows": MANY_ROWS, "ms_per_step": table}
    if args.json:
        print(json.dumps(result))
        return
    print(f"this CPU: {result['chosen']} from {MANY_ROWS} lanes on (oneDNN only where the CPU has AMX tiles)")
    print("lanes  fbgemm ms  onednn ms  onednn/fbgemm")
    for lanes in args.lanes:
        fast, dnn = table["fbgemm"][lanes], table["onednn"][lanes]
        print(f"{lanes:5d}  {fast:9.3f}  {dnn:9.3f}  {dnn / fast:13.2f}")


if __name__ == "__main__":
    main()
