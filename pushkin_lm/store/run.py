"""A training run's folder (`--out`): everything a run writes and reads, and the lock it holds.

A run folder holds `best/` and `last/` (checkpoint folders), `log.jsonl` and a `.lock` file.
`last/` also holds what exact resume needs besides the weights (optimizer moments, RNG states,
counters) as `trainer.safetensors` and `trainer.json`, so resuming never unpickles anything
either. `save_run` writes a checkpoint of the run, `load_run` reads `last/` back, once.

One training at a time writes into a run folder: a second one is refused, naming the first,
instead of the two deleting each other's half-written checkpoints and interleaving one log. The
lock is an OS file lock, so it ends with its process, however that process ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import torch
from torch import Tensor

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.version import VERSION
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.network import Network
from pushkin_lm.store.checkpoint import (
    Checkpoint,
    load_checkpoint,
    resolve_checkpoint_dir,
    save_checkpoint,
)
from pushkin_lm.store.layout import BEST, CONFIG_FILE, LAST, LOCK_FILE, LOG_FILE, STATE_INFO, STATE_TENSORS

RUN_FILES = (
    BEST,
    LAST,
    f".{BEST}.old",
    f".{LAST}.old",
    LOG_FILE,
)  # what a run writes, and their aside copies
TENSOR_FIELDS = ("optimizer", "rng", "trained", "carried")  # TrainerState's fields kept as tensors


@dataclass
class TrainerState:
    """What exact resume needs besides the saved weights."""

    step: int
    best_val: float
    elapsed_s: float
    eval_seconds: float
    optimizer: dict  # the optimizer's state_dict
    rng: dict[str, Tensor]  # generator states by name
    trained: dict[str, Tensor] | None = None  # the trained weights, where the checkpoint holds their average
    ema_updates: int = 0
    windows: dict | None = None  # where each row of consecutive windows stands
    carried: dict[str, Tensor] = field(default_factory=dict)  # the model state carried between windows
    processes: int = 1  # how many trained together (the carried state holds all their rows)


@dataclass
class Run:
    """A run's `last` checkpoint with its trainer state and training settings."""

    checkpoint: Checkpoint
    state: TrainerState
    train_config: dict


def save_run(
    path: Path, model: Network, vocab: CharVocab, temperature: float, meta: dict, state: TrainerState | None
) -> None:
    """Write checkpoint folder `path` of a run, with the trainer state where given."""
    extra = _pack(state) if state is not None else None
    save_checkpoint(path, model, vocab, meta, temperature, extra_files=extra)


def run_meta(metrics: dict, best_val: float, train_config: dict, data_source: str, train_chars: int) -> dict:
    """What a run's checkpoint says about itself in config.json's `meta`."""
    return {
        **metrics,
        "best_val_nats_per_char": best_val,
        "data_source": data_source,
        "train_chars": train_chars,
        "train_config": train_config,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pushkin_lm_version": VERSION,
    }


def append_log(folder: Path, metrics: dict, fresh: bool) -> None:
    """Add one evaluation to the run's log.jsonl; `fresh` starts the log anew."""
    try:
        with open(folder / LOG_FILE, "w" if fresh else "a", encoding="utf-8") as log_file:
            log_file.write(json.dumps(metrics) + "\n")
    except OSError as err:
        raise PushkinLMError(
            f"cannot write {folder / LOG_FILE}: {err.strerror}; "
            "free some disk space (the checkpoints are intact)"
        ) from None


def load_run(folder: str | Path) -> Run:
    """The run saved in `folder/last` (or its copy set aside mid-save), read once."""
    try:
        last = resolve_checkpoint_dir(Path(folder) / LAST)
    except PushkinLMError:
        raise PushkinLMError(
            f"{folder} holds no resumable run (no last/ checkpoint); check the --resume path"
        ) from None
    checkpoint = load_checkpoint(last)
    train_config = checkpoint.meta.get("train_config")
    if not isinstance(train_config, dict):
        raise PushkinLMError(f"{last} has no training settings, so it cannot be resumed; start a new run")
    return Run(checkpoint, _unpack(last), train_config)


def _pack(state: TrainerState) -> dict[str, bytes]:
    """The trainer state as two files: named tensors and a JSON remainder."""
    from safetensors.torch import save

    tensors = {f"rng.{k}": v for k, v in state.rng.items()}
    tensors |= {f"trained.{k}": v for k, v in (state.trained or {}).items()}
    tensors |= {f"carried.{k}": v for k, v in state.carried.items()}
    optimizer_tensors, optimizer_info = _flatten_optimizer(state.optimizer)
    scalars = {f.name: getattr(state, f.name) for f in fields(state) if f.name not in TENSOR_FIELDS}
    info = scalars | {"optimizer": optimizer_info, "has_trained": state.trained is not None}
    return {
        STATE_TENSORS: save(
            {k: v.detach().contiguous().cpu() for k, v in (tensors | optimizer_tensors).items()}
        ),
        STATE_INFO: json.dumps(info, indent=2).encode("utf-8"),
    }


def _unpack(path: Path) -> TrainerState:
    from safetensors import SafetensorError
    from safetensors.torch import load

    damaged = f"the trainer state in {path} is damaged; start a new run with --overwrite"
    try:
        tensors = load((path / STATE_TENSORS).read_bytes())
        info = json.loads((path / STATE_INFO).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PushkinLMError(
            f"{path} has no trainer state ({STATE_TENSORS}, {STATE_INFO}), so it cannot be resumed; "
            "start a new run with --overwrite"
        ) from None
    except (SafetensorError, ValueError, OSError) as err:
        raise PushkinLMError(f"{damaged} ({err})") from None
    try:
        group = lambda prefix: {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}  # noqa: E731
        optimizer = _unflatten_optimizer(group("optimizer."), info.pop("optimizer"))
        trained = group("trained.") if info.pop("has_trained") else None
        if "lanes" in info:  # its name in runs saved before it was called windows
            info["windows"] = info.pop("lanes")
        return TrainerState(
            **info, optimizer=optimizer, rng=group("rng."), trained=trained, carried=group("carried.")
        )
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise PushkinLMError(f"{damaged} ({type(err).__name__}: {err})") from None


def _flatten_optimizer(state: dict) -> tuple[dict[str, Tensor], dict]:
    """An optimizer's state_dict as named tensors plus a JSON-able remainder."""
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, Tensor], info: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in info["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": info["param_groups"]}


def holds_a_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_FILES)


def check_out_dir(folder: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse an `--out` that is not, or cannot become, this run's folder; writes nothing."""
    if (folder / CONFIG_FILE).exists():
        raise PushkinLMError(
            f"{folder} is a checkpoint folder, not a training run's folder; choose another --out "
            "(training writes best/ and last/ into it)"
        )
    if not resume and not overwrite and holds_a_run(folder):
        raise PushkinLMError(
            f"{folder} already holds a training run; pass --resume {folder} to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        reason = "Not a directory" if not existing.is_dir() else "Permission denied"
        raise PushkinLMError(f"cannot write to out dir {folder}: {reason} ({existing}); choose another --out")


class RunLock:
    """Create (if need be) and lock a run folder for one training; `with RunLock(out): ...`.

    A start that fails before anything is saved removes the folder again if it created it, so a
    mistyped command leaves nothing behind.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.created = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise PushkinLMError(
                f"cannot write to out dir {self.folder}: {err.strerror}; choose another --out"
            ) from None
        if not _try_lock(self.fd):
            owner = os.pread(self.fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(self.fd)
            raise PushkinLMError(
                f"{self.folder} is in use by another training run ({owner}); "
                "wait for it to finish, or choose another --out"
            )
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}, since {stamp}".encode(), 0)
        for stale in self.folder.glob(".*.tmp"):  # half-written checkpoints of a crashed run
            shutil.rmtree(stale, ignore_errors=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
        if self.created and not holds_a_run(self.folder):
            shutil.rmtree(self.folder, ignore_errors=True)


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not protected from each other
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
