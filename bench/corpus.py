"""Where the bench scripts find the corpus: beside the checkout, as on the development machine."""

from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pushkin_new" / "train.txt"
VAL_FRACTION = 0.1  # the standard split: the first 90 % trains, the last 10 % validates
