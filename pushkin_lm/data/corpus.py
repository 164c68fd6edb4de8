"""Reading the corpus, the fixed train/validation split, and random training windows."""

from __future__ import annotations

import hashlib

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import why_absent
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.store.hub import download_corpus

Splittable = TypeVar("Splittable", torch.Tensor, str)


def resolve_data_path(data: str | Path | None) -> Path:
    """A text file to read: `data` itself, `data/train.txt` for a folder, or the Hub copy."""
    if data is None:
        return download_corpus()
    path = Path(data)
    if path.is_dir():
        path = path / "train.txt"
        if not path.is_file():
            raise PushkinLMError(
                f"folder {data} holds no train.txt; pass --data PATH to a text file, "
                "or a folder that holds train.txt"
            )
    elif not path.exists():
        raise PushkinLMError(f"data file {data} {why_absent(path)}; check the --data path")
    return path


def resolve_text_path(data: str | Path) -> Path:
    """A text file to score: `data` itself, or a folder's test.txt (else its train.txt)."""
    path = Path(data)
    if path.is_dir():
        found = [path / name for name in ("test.txt", "train.txt") if (path / name).is_file()]
        if not found:
            raise PushkinLMError(f"folder {path} holds neither test.txt nor train.txt; pass --data FILE")
        return found[0]
    if not path.exists():
        raise PushkinLMError(f"data file {path} {why_absent(path)}; check the --data path")
    return path


def split_train_val(seq: Splittable, val_fraction: float) -> tuple[Splittable, Splittable]:
    """The first (1 - val_fraction) of the ids (or text) trains, the rest validates."""
    if not 0.0 <= val_fraction < 1.0:
        raise PushkinLMError(f"val fraction must be in [0, 1), got {val_fraction}")
    n_train = int(len(seq) * (1.0 - val_fraction))
    return seq[:n_train], seq[n_train:]


@dataclass
class Split:
    """One source's text as three consecutive slices of ids: train, calibration, validation."""

    name: str
    weight: float  # its share of every training batch (its rows); the shares of a corpus add up to 1
    train: torch.Tensor
    calib: torch.Tensor  # the training split's tail, never trained on: it fits the temperature
    val: torch.Tensor

    def digest(self) -> str:
        """The sha256 of this source's ids, all three slices: what a resumed run must read again."""
        digest = hashlib.sha256()
        for part in (self.train, self.calib, self.val):
            digest.update(part.contiguous().numpy())
        return digest.hexdigest()


@dataclass
class Corpus:
    """A text, or a mixture of sources, ready to train on: one vocabulary and each source's splits."""

    vocab: CharVocab
    sources: list[Split]

    @property
    def mixed(self) -> bool:
        return len(self.sources) > 1

    @property
    def train(self) -> torch.Tensor:
        """Every source's training ids, one after the other (one source: its own)."""
        return joined([s.train for s in self.sources])

    @property
    def calib(self) -> torch.Tensor:
        return joined([s.calib for s in self.sources])

    @property
    def val(self) -> torch.Tensor:
        return joined([s.val for s in self.sources])

    def describe(self) -> str:
        sizes = f"train {len(self.train):,} / calibration {len(self.calib):,} / val {len(self.val):,} chars"
        if not self.mixed:
            return f"vocab {len(self.vocab)}, {sizes}"
        mix = ", ".join(f"{s.name} {s.weight:.0%} ({len(s.train):,} train chars)" for s in self.sources)
        return f"vocab {len(self.vocab)}, {sizes}; mix {mix}"


def joined(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def split_ids(ids: torch.Tensor, val_fraction: float, calib_fraction: float) -> tuple[torch.Tensor, ...]:
    """Train, calibration and validation ids: the last `val_fraction` validates and the last
    `calib_fraction` of the rest is held out to calibrate; the first part trains."""
    train, val = split_train_val(ids, val_fraction)
    train, calib = split_train_val(train, calib_fraction)
    return train, calib, val


def prepare(text: str, val_fraction: float, calib_fraction: float, vocab: CharVocab | None = None) -> Corpus:
    """One vocabulary over the whole text (as nanoGPT does; or `vocab`, where a model brings its
    own), split by `split_ids`.

    The calibration slice says how sure the model should be of text it has not seen, without
    touching the validation split.
    """
    vocab = vocab or CharVocab.build(text)
    train, calib, val = split_ids(vocab.tensor(text), val_fraction, calib_fraction)
    return Corpus(vocab, [Split("text", 1.0, train, calib, val)])


def random_windows(
    ids: torch.Tensor, block_size: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`batch_size` random windows of inputs and their next-character targets (int64)."""
    starts = torch.randint(len(ids) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = ids[starts[:, None] + offsets]
    y = ids[starts[:, None] + offsets + 1]
    return x.long(), y.long()


class ConsecutiveWindows:
    """Batches whose rows carry on where the previous batch's rows stopped.

    The training split is cut into `batch_size` rows read left to right, one window per step,
    so the model's state after one batch is the right starting state for the next (truncated
    backpropagation through time). Each pass starts at a fresh random shift, so window
    boundaries move from one pass to the next.

    Trained on `processes` processes, the split is cut into `batch_size x processes` rows and
    process `rank` reads its own `batch_size` of them (every process draws the same shifts).
    """

    def __init__(
        self,
        ids: torch.Tensor,
        block_size: int,
        batch_size: int,
        generator: torch.Generator,
        rank: int = 0,
        processes: int = 1,
    ) -> None:
        self.rows = batch_size * processes
        if (len(ids) - block_size) // self.rows < block_size + 1:
            fits = (len(ids) - block_size) // (block_size + 1) // processes  # rows per process that fit
            fix = f"pass --batch_size {fits}" if fits else f"pass a --block_size below {block_size}"
            raise PushkinLMError(
                f"the training split ({len(ids)} characters) is too short for {self.rows} rows of "
                f"{block_size}-character windows; {fix}, or a longer text"
            )
        self.ids, self.block_size, self.generator = ids, block_size, generator
        self.mine = slice(rank * batch_size, (rank + 1) * batch_size)
        self.position = self.row_length = self.shift = 0

    def state_dict(self) -> dict:
        return {"position": self.position, "shift": self.shift, "row_length": self.row_length}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a saved position (the generator's state is restored separately)."""
        self._cut_rows(int(state["shift"]))
        self.position = int(state["position"])

    def _cut_rows(self, shift: int) -> None:
        self.shift = shift
        self.row_length = (len(self.ids) - 1 - shift) // self.rows
        usable = self.ids[shift : shift + self.rows * self.row_length + 1]
        self.inputs = usable[:-1].view(self.rows, self.row_length)[self.mine]
        self.targets = usable[1:].view(self.rows, self.row_length)[self.mine]

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Inputs, targets, and whether this batch starts a new pass (so state must be reset)."""
        fresh = self.position + self.block_size > self.row_length
        if fresh:
            self._cut_rows(int(torch.randint(self.block_size, (1,), generator=self.generator)))
            self.position = 0
        window = slice(self.position, self.position + self.block_size)
        self.position += self.block_size
        return self.inputs[:, window].long(), self.targets[:, window].long(), fresh


class MixtureWindows:
    """Consecutive windows from several sources at once: each source reads its own rows, as many
    as its share of the batch, so every step reads the mixture in the same proportions.

        batch rows:  | verse rows ........ | prose rows .. |     (e.g. 24 + 8 of 32)

    A source that has read all its text starts a new pass at a new shift, and then every row's
    carried state is reset (as one source's new pass always did); with one source this is
    `ConsecutiveWindows` itself.
    """

    def __init__(
        self,
        sources: list[Split],
        block_size: int,
        batch_size: int,
        generator: torch.Generator,
        rank: int = 0,
        processes: int = 1,
    ) -> None:
        self.rows = row_counts([s.weight for s in sources], batch_size)
        self.parts = [
            ConsecutiveWindows(s.train, block_size, n, generator, rank, processes)
            for s, n in zip(sources, self.rows, strict=True)
        ]

    def state_dict(self) -> dict:
        states = [part.state_dict() for part in self.parts]
        return states[0] if len(states) == 1 else {"sources": states}

    def load_state_dict(self, state: dict) -> None:
        states = [state] if len(self.parts) == 1 else state["sources"]
        if len(states) != len(self.parts):
            raise ValueError(f"the run read {len(states)} sources, not {len(self.parts)}")
        for part, saved in zip(self.parts, states, strict=True):
            part.load_state_dict(saved)

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """Inputs, targets, and whether any source starts a new pass (so state must be reset)."""
        batches = [part.next() for part in self.parts]
        if len(batches) == 1:
            return batches[0]
        x, y, fresh = zip(*batches, strict=True)
        return torch.cat(x), torch.cat(y), any(fresh)


def mixture_random_windows(
    sources: list[Split], block_size: int, rows: list[int], generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`random_windows` from each source, `rows` of each (`row_counts` of the batch)."""
    if len(sources) == 1:
        return random_windows(sources[0].train, block_size, rows[0], generator)
    drawn = [random_windows(s.train, block_size, n, generator) for s, n in zip(sources, rows, strict=True)]
    return torch.cat([x for x, _ in drawn]), torch.cat([y for _, y in drawn])


def row_counts(weights: list[float], rows: int) -> list[int]:
    """`rows` shared out in proportion to `weights` (largest remainder), each source at least one."""
    if rows < len(weights):
        raise PushkinLMError(
            f"{len(weights)} sources need at least as many rows, and --batch_size is {rows}; "
            f"use --batch_size {len(weights)} or more"
        )
    exact = [rows * w / sum(weights) for w in weights]
    counts = [max(1, math.floor(x)) for x in exact]
    while sum(counts) > rows:  # a source's minimum of one row took more than its share
        counts[max((i for i in range(len(counts)) if counts[i] > 1), key=lambda i: counts[i] - exact[i])] -= 1
    for i in sorted(range(len(weights)), key=lambda i: counts[i] - exact[i])[: rows - sum(counts)]:
        counts[i] += 1
    return counts
