"""`python code/train.py`: the same as the `pushkin-lm-train` command."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from pushkin_lm.cli.main import train_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(train_main())
