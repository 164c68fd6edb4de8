"""CharVocab: characters <-> integer ids, with an explicit unknown-character slot."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from pushkin_lm.core.errors import PushkinLMError

# Every character of the Pushkin corpus (abobster/pushkin_new, train.txt: 131 distinct), so that a
# vocabulary built from other text can still read all of Pushkin (mixture.py);
# tests/test_vocab.py checks it against the corpus.
PUSHKIN_CHARS = (
    "\n !,-./:;<>?ABCDEGHILMNPQRSTVWY^abcdefghijklmnopqrstuvxyz\xa0«»âçé\u0301"
    "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюяё\u200e–—’…"
)
ENCODE_CHUNK = 1 << 22  # characters encoded at once: bounds the 4-byte code points in flight

# Id 0 stands for every character the vocabulary has never seen. The model learns a
# (tiny) probability for it, so unseen text still scores finitely instead of failing.
UNKNOWN = "\ufffd"


@dataclass(frozen=True)
class CharVocab:
    """An ordered character set; `chars[0]` is always the unknown-character slot."""

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.chars or self.chars[0] != UNKNOWN:
            raise PushkinLMError(f"vocabulary must start with the unknown slot {UNKNOWN!r}")
        if any(len(c) != 1 for c in self.chars):
            raise PushkinLMError("vocabulary entries must be single characters")
        if len(set(self.chars)) != len(self.chars):
            raise PushkinLMError("vocabulary has duplicate characters")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.chars)})

    @classmethod
    def build(cls, text: Iterable[str]) -> CharVocab:
        """The vocabulary of every distinct character in `text`, in code-point order."""
        return cls((UNKNOWN, *sorted(set(text) - {UNKNOWN})))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def unknown_chars(self, text: str) -> list[str]:
        """The distinct characters of `text` that are not in the vocabulary, in order seen."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str) -> list[int]:
        """Ids for `text`; characters outside the vocabulary map to the unknown id 0."""
        index = self._index
        return [index.get(c, 0) for c in text]

    def id_dtype(self) -> torch.dtype:
        """The narrowest integer type that holds every id: one byte for up to 256 characters."""
        return torch.uint8 if len(self) <= 256 else torch.int16 if len(self) <= 2**15 else torch.int32

    def tensor(self, text: str) -> torch.Tensor:
        """The ids of `text` as a compact tensor (`id_dtype`), unknown characters as 0: a 53 M-character
        corpus takes 53 MB, not the 424 MB of int64 (or the 2 GB of a list of ints)."""
        known = np.array([ord(c) for c in self.chars[1:]], dtype=np.int64)
        table = np.zeros(int(known.max(initial=0)) + 2, dtype=np.int64)  # code point -> id; last: unknown
        table[known] = np.arange(1, len(self.chars))
        out = torch.empty(len(text), dtype=self.id_dtype())
        for start in range(0, len(text), ENCODE_CHUNK):
            codes = code_points(text[start : start + ENCODE_CHUNK])
            out[start : start + len(codes)] = torch.from_numpy(table[np.minimum(codes, len(table) - 1)])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def to_json(self) -> dict:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_json(cls, obj: object) -> CharVocab:
        if not isinstance(obj, dict) or not isinstance(obj.get("chars"), str):
            raise PushkinLMError("vocabulary must be a JSON object with a 'chars' string")
        return cls(tuple(obj["chars"]))


def code_points(text: str) -> np.ndarray:
    """The Unicode code points of `text`, four bytes each."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
