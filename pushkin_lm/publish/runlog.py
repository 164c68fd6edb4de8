"""A training run's log.jsonl, read for its pictures: bounded, line by line, each line checked.

The log is appended to at every evaluation and read by `pushkin-lm plot` and by training's last
picture, so it meets whatever happened to the run: a crash mid-line, a hand edit, a disk error, or
a path that is not a file at all. A named pipe or a device is refused before it is opened (opening a
pipe with no writer would wait for ever), the file is read to at most MAX_LOG_BYTES, and a line that
is not an evaluation (not JSON, a wrong type, a number beyond any run's) is skipped and counted, so
that one bad line costs its point, not the picture. Only the four fields a picture draws are kept.
"""

from __future__ import annotations

import json
import math
import stat
from dataclasses import dataclass
from pathlib import Path

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import in_the_way, read_bytes_bounded
from pushkin_lm.store.layout import LOG_FILE

# A line is about 150 bytes: a hundred thousand evaluations fit, and the rows kept stay near 30 MB.
MAX_LOG_BYTES = 16 * 2**20
MAX_STEP = 2**63 - 1  # training counts steps in a 64-bit integer
MAX_SECONDS = 1e9  # thirty years
MAX_NATS = 1e4  # e**10000 times worse than a uniform guess over any vocabulary: no run logs that
FIELDS = {
    "step": MAX_STEP,
    "elapsed_s": MAX_SECONDS,
    "train_nats_per_char": MAX_NATS,
    "val_nats_per_char": MAX_NATS,
}
KINDS = {
    stat.S_ISFIFO: "a named pipe",
    stat.S_ISCHR: "a device",
    stat.S_ISBLK: "a device",
    stat.S_ISDIR: "a folder",
}


@dataclass
class RunLog:
    """The evaluations of a log in step order, and the lines skipped as damaged."""

    path: Path
    rows: list[dict]
    skipped: int = 0
    first_problem: str = ""  # where the first skipped line is, and what is wrong with it

    def warning(self) -> str | None:
        """One line for the user about the skipped lines, or None where there were none."""
        if not self.skipped:
            return None
        lines = f"{self.skipped} damaged line{'s' * (self.skipped != 1)}"
        return f"warning: skipped {lines} of {self.path} (first at {self.first_problem})"


def log_path(run_dir: str | Path) -> Path:
    """The log of training run `run_dir`, or `run_dir` itself where it names a .jsonl file."""
    path = Path(run_dir)
    return path if path.suffix == ".jsonl" else path / LOG_FILE


def read_log(run_dir: str | Path) -> RunLog:
    """The evaluations of training run `run_dir` (or of a log.jsonl file itself), in step order.

    Each is a dict with `step`, `elapsed_s`, `train_nats_per_char` and, where the run had a
    validation split, `val_nats_per_char`. A step logged twice (a resumed run) keeps its last row.
    Raises PushkinLMError for a log that is missing, not a file, too large or holds no evaluation.
    """
    path = log_path(run_dir)
    raw = read_bytes_bounded(_regular_file(path), MAX_LOG_BYTES, "training log")
    rows: dict[int, dict] = {}
    skipped, first = 0, ""
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        row, problem = parse_log_line(line)
        if row is None:
            skipped, first = skipped + 1, first or f"line {number}: {problem}"
            continue
        rows[row["step"]] = row
    if not rows:
        damaged = (
            f" ({skipped} damaged line{'s' * (skipped != 1)} skipped, first at {first})" if skipped else ""
        )
        raise PushkinLMError(
            f"{path} holds no evaluations yet{damaged}; wait for training's first evaluation "
            "(every --eval_interval steps) and plot again"
        )
    return RunLog(path, [rows[step] for step in sorted(rows)], skipped, first)


def _regular_file(path: Path) -> Path:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PushkinLMError(
            f"{path} does not exist; give the --out folder of a training run (training writes "
            f"{LOG_FILE} there at every evaluation)"
        ) from None
    except OSError as err:
        raise PushkinLMError(
            f"cannot read {path}: {in_the_way(path) or err.strerror}; check the path"
        ) from None
    for test, kind in KINDS.items():
        if test(mode):
            raise PushkinLMError(
                f"{path} is {kind}, not a file; give the --out folder of a training run, where training "
                f"writes {LOG_FILE} as a file"
            )
    return path


def parse_log_line(line: bytes) -> tuple[dict | None, str]:
    """One evaluation of the log, or None and what is wrong with the line."""
    try:
        row = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except RecursionError:
        return None, "JSON nested too deep"
    except ValueError as err:  # JSONDecodeError, or int() refusing a number of over 4,300 digits
        return None, f"not JSON ({err.msg})" if isinstance(
            err, json.JSONDecodeError
        ) else "a number of over 4,300 digits"
    if not isinstance(row, dict):
        return None, "not a JSON object"
    kept = {}
    for key, limit in FIELDS.items():
        value = row.get(key)
        if value is None and key == "val_nats_per_char":  # a run without a validation split
            continue
        if value is None:
            return None, f"no {key!r}"
        if key == "step" and type(value) is not int:
            return None, f"step is {_shown(value)}, not a whole number"
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None, f"{key} is {_shown(value)}, not a finite number"
        if not 0 <= value <= limit:
            return None, f"{key} is {_shown(value)}, outside 0 to {limit:g}"
        kept[key] = value
    return kept, ""


def _shown(value: object, limit: int = 30) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
