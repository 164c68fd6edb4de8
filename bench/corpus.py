"""Where the bench scripts find the corpus: beside the checkout, as on the development machine.

python bench/corpus.py    # where the corpus is looked for, and whether it is there
"""

import json
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pushkin_new" / "train.txt"
VAL_FRACTION = 0.1  # the standard split: the first 90 % trains, the last 10 % validates


def describe() -> dict:
    """The default corpus path, whether a file is there (the scripts take --data otherwise), the split."""
    return {"default_data": str(DEFAULT_DATA), "exists": DEFAULT_DATA.is_file(), "val_fraction": VAL_FRACTION}


if __name__ == "__main__":
    print(json.dumps(describe()))
