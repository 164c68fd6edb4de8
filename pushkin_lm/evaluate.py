"""Scoring text: average negative log-likelihood per character, with carried state."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import PushkinLM
from .vocab import CharVocab

IGNORE = -100


@dataclass
class Score:
    nats_per_char: float
    chars: int  # characters scored: every one after the first
    unknown_chars: int = 0  # characters outside the vocabulary, scored as the unknown id

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    def to_json(self) -> dict:
        return {
            "nats_per_char": self.nats_per_char,
            "bits_per_char": self.bits_per_char,
            "chars": self.chars,
            "unknown_chars": self.unknown_chars,
        }


@torch.no_grad()
def score_ids(model: PushkinLM, ids: torch.Tensor, chunk_size: int = 256, min_stream: int = 2048) -> float:
    """Mean nats per character of `ids[1:]`, each predicted from everything before it.

    The text is cut into parallel streams of at least `min_stream` characters (a batch is much
    faster than one long sequence); each stream is read in chunks, carrying the LSTM state and
    the attention cache across chunks, exactly as generation does. Only each stream's first
    characters lose context, which costs a negligible amount on long texts.
    """
    num_targets = len(ids) - 1
    if num_targets < 1:
        return float("nan")
    streams = max(1, min(32, num_targets // min_stream))
    length = math.ceil(num_targets / streams)
    inputs = torch.zeros(streams * length, dtype=torch.long)
    targets = torch.full((streams * length,), IGNORE, dtype=torch.long)
    inputs[:num_targets], targets[:num_targets] = ids[:-1], ids[1:]
    device = next(model.parameters()).device
    inputs, targets = inputs.view(streams, length).to(device), targets.view(streams, length).to(device)

    was_training = model.training
    model.eval()
    total, state = 0.0, None
    for start in range(0, length, chunk_size):
        logits, state = model(inputs[:, start : start + chunk_size], state)
        chunk_targets = targets[:, start : start + chunk_size]
        total += F.cross_entropy(
            logits.flatten(0, 1), chunk_targets.flatten(), ignore_index=IGNORE, reduction="sum"
        ).item()
    model.train(was_training)
    return total / num_targets


def score_text(model: PushkinLM, vocab: CharVocab, text: str) -> Score:
    """The model's score on `text`; unseen characters are scored as the unknown id."""
    ids = torch.tensor(vocab.encode(text), dtype=torch.long)
    unknown = sum(1 for c in text[1:] if c not in vocab)
    return Score(score_ids(model, ids), chars=len(text) - 1, unknown_chars=unknown)
