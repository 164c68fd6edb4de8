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

import errno
import json
import os
import shlex
import shutil
import socket
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import in_the_way
from pushkin_lm.core.settings import train_command
from pushkin_lm.core.version import VERSION
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.memory import FLOAT_BYTES, param_count
from pushkin_lm.model.network import Network
from pushkin_lm.store.checkpoint import (
    Checkpoint,
    load_checkpoint,
    resolve_checkpoint_dir,
    save_checkpoint,
)
from pushkin_lm.store.layout import (
    BEST,
    CONFIG_FILE,
    CURVES_FILE,
    LAST,
    LOCK_FILE,
    LOG_FILE,
)
from pushkin_lm.store.trainer_state import TrainerState, pack_state, unpack_state

__all__ = [
    "Run",
    "RunLock",
    "TrainerState",
    "append_log",
    "check_out_dir",
    "load_run",
    "run_meta",
    "save_run",
]

RUN_FILES = (
    BEST,
    LAST,
    f".{BEST}.old",
    f".{LAST}.old",
    LOG_FILE,
)  # what a run writes, and their aside copies
# Every name a run writes in its folder: none of them may be a symbolic link, which the run would
# write through (a planted `.lock` -> ~/notes.txt truncated) or replace.
OWN_NAMES = (*RUN_FILES, LOCK_FILE, CURVES_FILE)
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
MAX_PROCESSES = 64  # the most processes a run's carried state is allowed for, when bounding its size


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
    extra = pack_state(state) if state is not None else None
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
    """Add one evaluation to the run's log.jsonl; `fresh` starts the log anew.

    A fresh log is a new file (the old name unlinked first), and neither is ever opened through a
    link: a hard link's other name keeps the old log, a symbolic link's target is never written."""
    path = folder / LOG_FILE
    try:
        if fresh:
            path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | NO_FOLLOW, 0o644)
        with open(fd, "w", encoding="utf-8") as log_file:
            log_file.write(json.dumps(metrics) + "\n")
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise PushkinLMError(f"{not_own(path)} (the checkpoints are intact)") from None
        raise PushkinLMError(
            f"cannot write {path}: {err.strerror}; free some disk space (the checkpoints are intact)"
        ) from None


def not_own(path: Path) -> str:
    """Why a run refuses to write `path`: something else was put where its own file goes."""
    what = "a symbolic link" if path.is_symlink() else "not a plain file of its own"
    return (
        f"{path} is {what}, and a training run never writes through one; remove it, or choose another --out"
    )


def load_run(folder: str | Path) -> Run:
    """The run saved in `folder/last` (or its copy set aside mid-save), read once."""
    if blocked := in_the_way(Path(folder) / LAST):
        raise PushkinLMError(f"--resume {folder}: {blocked}; check the --resume path")
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
    return Run(checkpoint, unpack_state(last, _state_bytes(checkpoint, train_config)), train_config)


def _state_bytes(checkpoint: Checkpoint, train_config: dict) -> int:
    """The most a trainer state of this run can take: the trained weights and AdamW's two moments
    (float32, with room for its step counters), the carried state of every row and every process
    that could be, and a megabyte of generator states; a file beyond it is no trainer state."""
    cfg, batch = checkpoint.model.cfg, train_config.get("batch_size")
    rows = (batch if type(batch) is int and batch > 0 else 1) * MAX_PROCESSES
    carried = rows * cfg.hidden_size * (2 * cfg.num_layers + 3 * cfg.attn_window)
    return (4 * param_count(cfg) + carried) * FLOAT_BYTES + 2**20


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
        raise PushkinLMError(already_a_run(folder))
    for name in OWN_NAMES:
        if (folder / name).is_symlink():
            raise PushkinLMError(not_own(folder / name))
    if folder.exists() and not folder.is_dir():
        raise PushkinLMError(
            f"cannot write to out dir {folder}: it is a file, not a folder; choose another --out"
        )
    if blocked := in_the_way(folder):
        raise PushkinLMError(f"cannot write to out dir {folder}: {blocked}; choose another --out")
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PushkinLMError(
            f"cannot write to out dir {folder}: Permission denied ({existing}); choose another --out"
        )


def already_a_run(folder: Path) -> str:
    """Why a new run refuses `folder`, and what to do: the command that resumes it where resume
    would take it (its last/ loads), else --overwrite."""
    try:
        run = load_run(folder)
    except PushkinLMError:
        why = "its last/ checkpoint is damaged" if (folder / LAST).exists() else "it has no last/ checkpoint"
        return (
            f"{folder} already holds a training run, which cannot be resumed ({why}); pass --overwrite "
            "to replace it, or choose another --out"
        )
    processes = run.state.processes  # what resume checks: the same number must take it up
    launcher = f"torchrun --standalone --nproc_per_node={processes}" if processes > 1 else None
    command = train_command(f"--resume {shlex.quote(str(folder))}", launcher)
    return (
        f"{folder} already holds a training run; continue it with: {command}; or pass --overwrite to "
        "replace it, or choose another --out"
    )


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
        lock = self.folder / LOCK_FILE
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Never through a link, never blocking on a FIFO: the lock file is truncated below.
            self.fd = os.open(lock, os.O_RDWR | os.O_CREAT | NO_FOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise PushkinLMError(not_own(lock)) from None
            raise PushkinLMError(
                f"cannot write to out dir {self.folder}: {err.strerror}; choose another --out"
            ) from None
        found = os.fstat(self.fd)
        if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1:  # a hard link's other name would lose
            os.close(self.fd)
            raise PushkinLMError(not_own(lock))
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
