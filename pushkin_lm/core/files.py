"""Files read within bounds and written atomically: nothing pushkin-lm reads can fill memory, and
nothing it writes is ever left half-written.

A folder is replaced as a whole: the new one is written beside it, the old one is renamed aside, the
new one renamed into place, and only then is the old one deleted. A crash at any moment leaves
either the old or the new folder whole. What a crash leaves half-written is removed by the next
save, and nothing else: a folder beside the target is only ever deleted when it carries the mark of
being one of these half-written ones (or is empty and named as `tempfile` names them), so a user's
own `.notes.tmp` survives. Files are created, never opened through a symbolic link.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from pushkin_lm.core.errors import PushkinLMError

# The most any text file is read to: a corpus a hundred times Pushkin's fits, while `/dev/zero`
# or a runaway pipe is refused instead of filling memory (its ids alone take 8 bytes a character).
MAX_TEXT_BYTES = 256 * 2**20
MAX_PROMPT_BYTES = 16 * 2**20
# The file a folder being written holds until it is renamed into place: what tells a crashed save's
# leftovers from a folder of the user's that happens to be named alike.
PARTIAL_MARK = ".pushkin-lm-partial"
# Create, never truncate, never follow a link: a file planted where one is written is an error,
# not something to write through.
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def in_the_way(path: str | Path) -> str | None:
    """Why `path` can be neither found nor made, where something above it is not a folder: "notes.txt
    is a file, not a folder" for notes.txt/run/best (the system says only "File exists" or "Not a
    directory", naming neither)."""
    for above in Path(path).parents:
        if above.exists():
            if above.is_dir():
                return None
            return f"{above} is a file, not a folder" if above.is_file() else f"{above} is not a folder"
    return None


def why_absent(path: str | Path) -> str:
    """Why nothing is at `path`, for a message: "does not exist", or what is in the way of it."""
    blocked = in_the_way(path)
    return f"cannot be there: {blocked}" if blocked else "does not exist"


def read_bytes_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """At most `limit` bytes of `path` (a file, or a pipe such as /dev/stdin); more is an error."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as err:
        raise PushkinLMError(
            f"cannot read {path}: {in_the_way(path) or err.strerror}; check the path"
        ) from None
    if len(raw) > limit:
        raise PushkinLMError(
            f"{path} is larger than {limit // 2**20} MiB, the most pushkin-lm reads as a {what}; "
            "pass a smaller file"
        )
    return raw


def read_text(path: str | Path, limit: int = MAX_TEXT_BYTES, what: str = "text file") -> str:
    """The UTF-8 text of `path`, refusing empty, binary, non-UTF-8 and oversized files clearly.

    A byte-order mark is dropped and Windows (CRLF) or old Mac (CR) line endings become newlines,
    so a text saved by any editor reads as the same characters.
    """
    path = Path(path)
    raw = read_bytes_bounded(path, limit, what)
    if b"\x00" in raw:
        raise PushkinLMError(f"{path} looks binary (it has NUL bytes); pass a UTF-8 text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PushkinLMError(
            f"{path} is not UTF-8 text (bad byte at offset {err.start}); "
            "convert it, e.g. iconv -f cp1251 -t utf-8"
        ) from None
    if not text.strip():
        raise PushkinLMError(f"{path} is empty; pass a UTF-8 text file with some text in it")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def aside_path(target: Path) -> Path:
    """Where `write_dir_atomically` keeps the previous `target` while it swaps in the new one."""
    return target.with_name(f".{target.name}.old")


def write_dir_atomically(target: Path, files: dict[str, bytes]) -> None:
    """Replace folder `target` by one holding `files`, so that no crash leaves neither."""
    target = Path(target)
    old, landed = aside_path(target), False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if old.exists() and not target.exists():
            os.replace(old, target)  # finish recovering from a crash mid-swap
        _remove_partial(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            _write_file(tmp / PARTIAL_MARK, b"")  # first, so that a crash from here on is recognised
            for name, data in files.items():
                _write_file(tmp / name, data)
            if target.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(target, old)
            os.replace(tmp, target)
            landed = True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):  # a stray mark in a whole checkpoint is harmless
            os.unlink(target / PARTIAL_MARK)
        _fsync_dir(target.parent)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        kept = "the new checkpoint is in place, intact" if landed else "the previous checkpoint is intact"
        raise PushkinLMError(
            f"cannot write checkpoint {target}: {err.strerror or err}; "
            f"free some disk space or choose another --out ({kept})"
        ) from None


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, NEW_FILE, 0o644)
    with open(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# How tempfile.mkdtemp names a folder: `.{target}.` then 8 of its letters, then `.tmp`.
_MKDTEMP_NAME = re.compile(r"\.[a-z0-9_]{8}\.tmp")


def _remove_partial(target: Path) -> None:
    """Delete the half-written folders an interrupted save of `target` left: those holding the mark,
    and empty ones named as mkdtemp names them (a crash between making and marking one)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        if stale.is_symlink() or not stale.is_dir():
            continue
        mark = stale / PARTIAL_MARK
        if mark.is_file() and not mark.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        elif _MKDTEMP_NAME.fullmatch(stale.name.removeprefix(f".{target.name}")):
            with contextlib.suppress(OSError):  # rmdir removes nothing but an empty folder
                os.rmdir(stale)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
