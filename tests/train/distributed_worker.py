"""Run by tests/test_distributed.py under torchrun, as every rank: train a tiny model on --data
into --out (stopping at --stop_at where given), then save this rank's trained weights there as
rank<N>.safetensors, so the test can compare what each process ends with."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for conftest's helpers
from conftest import TINY_MODEL, tiny_run_config  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from pushkin_lm.model.config import ModelConfig  # noqa: E402
from pushkin_lm.train.trainer import Trainer  # noqa: E402

# No dropout: two processes of `batch_size` rows then compute what one of twice as many does.
MODEL = ModelConfig(**TINY_MODEL)
STEPS, EVAL_EVERY = 40, 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--stop_at", type=int)
    args = parser.parse_args()
    cfg = tiny_run_config(
        Path(args.data), Path(args.out), max_iters=STEPS, eval_interval=EVAL_EVERY, batch_size=args.batch_size
    )
    trainer = Trainer(cfg, MODEL, log=lambda *_: None)
    trainer.run(stop_at=args.stop_at)
    save_file(
        trainer.learner.model.state_dict(), str(Path(args.out) / f"rank{trainer.world.rank}.safetensors")
    )


if __name__ == "__main__":
    main()
