"""`python code/evaluate.py`: the same as the `pushkin-lm-evaluate` command."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from pushkin_lm.cli.main import evaluate_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(evaluate_main())
