"""A run's curves: a hostile log.jsonl read line by line with its damaged lines skipped and counted,
and the picture of a run of one, two or three evaluations laid out right (whole-number step ticks,
the best checkpoint's label inside the axes, a title that names the run, not its temporary path)."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from pushkin_lm.cli.main import main
from pushkin_lm.publish import plot
from pushkin_lm.publish.runlog import read_log

GOOD = {"step": 10, "elapsed_s": 2.0, "train_nats_per_char": 3.1, "val_nats_per_char": 3.2}
HOSTILE = [
    b'{"step": 20, "elapsed_s": 4.0, "train_nats_per_char": ' + b"9" * 5000 + b"}",  # int() refuses it
    b'{"step": 30, "elapsed_s": 6.0, "train_nats_per_char": NaN}',
    b'{"step": 40, "elapsed_s": Infinity, "train_nats_per_char": 2.0}',
    b'{"step": -1, "elapsed_s": 1.0, "train_nats_per_char": 2.0}',
    b'{"step": 18446744073709551616, "elapsed_s": 1.0, "train_nats_per_char": 2.0}',
    b'{"step": 50, "elapsed_s": 1.0, "train_nats_per_char": 1e300}',
    b'{"step": "60", "elapsed_s": 1.0, "train_nats_per_char": 2.0}',
    b'{"step": 70, "elapsed_s": 1.0, "train_nats_per_char": 2.0, "val_nats_per_char": false}',
    b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion
    b'{"step": 80, "elapsed_s": 1.0, "train_nats_per_char": 2.0, "note": "\xff"}',  # not UTF-8
    b'{"step": 90, "elapsed_s": 1.',  # a crash mid-line
]


def rows(count: int, with_val: bool = True) -> list[dict]:
    out = []
    for i in range(1, count + 1):
        row = {"step": 10 * i, "elapsed_s": 3.0 * i, "train_nats_per_char": 3.2 / math.sqrt(i)}
        out.append({**row, "val_nats_per_char": 3.3 / i**0.3} if with_val else row)
    return out


def write_log(run: Path, lines: list[dict | bytes]) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    raw = [line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines]
    (run / "log.jsonl").write_bytes(b"".join(line + b"\n" for line in raw))
    return run


def test_hostile_lines_are_skipped_and_counted(tmp_path):
    log = read_log(write_log(tmp_path / "run", [GOOD, *HOSTILE, {**GOOD, "step": 100}]))
    assert [row["step"] for row in log.rows] == [10, 100]
    assert set(log.rows[0]) == set(GOOD)  # only what a picture draws is kept
    assert log.skipped == len(HOSTILE)
    assert (
        log.warning()
        == f"warning: skipped 11 damaged lines of {log.path} (first at line 2: a number of over 4,300 digits)"
    )


def test_plot_warns_in_one_line_and_draws_the_rest(tmp_path, capsys):
    run = write_log(tmp_path / "run", [GOOD, HOSTILE[1], {**GOOD, "step": 20}])
    assert main(["plot", str(run)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{run / 'curves.png'}\n"
    assert captured.err == (
        f"warning: skipped 1 damaged line of {run / 'log.jsonl'} "
        "(first at line 2: train_nats_per_char is nan, not a finite number)\n"
    )


def laid_out(log_rows: list[dict], title: str = "a run"):
    """The curves figure of `log_rows`, drawn (so that every artist has its place) but not saved."""
    with plot._figure_context() as Figure:
        fig = plot.curves_figure(Figure, log_rows, title)
        FigureCanvasAgg(fig).draw()
    return fig


@pytest.mark.parametrize("with_val", [True, False], ids=["validation", "no validation"])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_short_runs_picture_is_laid_out_right(tmp_path, count, with_val):
    fig = laid_out(rows(count, with_val), plot.run_title(tmp_path / "run", count))
    assert fig.get_suptitle() == f"training run run: {count} evaluation{'s' * (count > 1)}"
    renderer = fig.canvas.get_renderer()
    title_box = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes[:2]:
        box = ax.get_window_extent(renderer)
        legend = ax.get_legend()
        inside = legend.get_window_extent(renderer)  # inside the axes, not clipped, clear of the titles
        assert box.x0 <= inside.x0 and inside.x1 <= box.x1 and box.y0 <= inside.y0 and inside.y1 <= box.y1
        assert not inside.overlaps(title_box) and not inside.overlaps(ax.title.get_window_extent(renderer))
        best = [t.get_text() for t in legend.get_texts() if t.get_text().startswith("best checkpoint")]
        assert best and best[0].endswith(f"at step {10 * count}")
    steps = [tick for tick in fig.axes[0].get_xticks() if 0 <= tick <= fig.axes[0].get_xlim()[1]]
    assert steps and all(tick == int(tick) for tick in steps)  # no step 2.5
    labels = [label.get_text() for label in fig.axes[0].get_xticklabels() if label.get_text()]
    assert labels and all(label.replace(",", "").lstrip("\u2212-").isdigit() for label in labels)


def test_the_title_names_the_run_not_its_temporary_path(tmp_path):
    assert plot.run_title(tmp_path / "pushkin-ft", 16) == "training run pushkin-ft: 16 evaluations"
    assert plot.run_title(tmp_path / "pushkin-ft" / "log.jsonl", 1) == "training run pushkin-ft: 1 evaluation"
    assert plot.run_title(tmp_path / "shipped-h100.jsonl", 2) == "training run shipped-h100: 2 evaluations"
    run = write_log(tmp_path / "run", rows(2))
    assert main(["plot", str(run), "--title", "the shipped recipe on an H100"]) == 0


def test_a_picture_that_cannot_be_written_leaves_the_old_one_whole(tmp_path, monkeypatch):
    run = write_log(tmp_path / "run", rows(3))
    (run / ".curves.png.tmp").write_text("the user's own")  # a file of a like name is no scratch file
    png = plot.plot_training_curves(run, run / "curves.png")
    before = png.read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:  # the disk fills a hundred bytes into the picture
        def __init__(self, fd: int, mode: str) -> None:
            self.file = real_fdopen(fd, mode)

        def __enter__(self):
            return self

        def __exit__(self, *_) -> None:
            self.file.close()

        def write(self, data: bytes) -> None:
            self.file.write(data[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", FullDisk)
    with pytest.raises(
        plot.PushkinLMError, match="cannot write .*No space left on device; choose another path"
    ):
        plot.plot_training_curves(run, png)
    monkeypatch.undo()
    assert png.read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == [".curves.png.tmp", "curves.png", "log.jsonl"]
