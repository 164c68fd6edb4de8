"""A training run's folder (`--out`): which folders may become one, and the lock a run holds on it.

A run folder holds `best/` and `last/` (checkpoint folders), `log.jsonl` and a `.lock` file. One
training at a time writes into it: a second one is refused, naming the first, instead of the two
deleting each other's half-written checkpoints and interleaving one log. The lock is an OS file
lock, so it ends with its process, however that process ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from types import TracebackType

from .checkpoint import CONFIG_FILE
from .errors import PushkinLMError

LOG_FILE = "log.jsonl"
LOCK_FILE = ".lock"
RUN_FILES = ("best", "last", ".best.old", ".last.old", LOG_FILE)  # what a run writes, and their aside copies


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
