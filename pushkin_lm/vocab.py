"""CharVocab: characters <-> integer ids, with an explicit unknown-character slot."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import PushkinLMError

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

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def to_json(self) -> dict:
        return {"chars": "".join(self.chars)}

    @classmethod
    def from_json(cls, obj: object) -> CharVocab:
        if not isinstance(obj, dict) or not isinstance(obj.get("chars"), str):
            raise PushkinLMError("vocabulary must be a JSON object with a 'chars' string")
        return cls(tuple(obj["chars"]))
