"""Scoring text: average negative log-likelihood per character, with carried state."""

from __future__ import annotations

import math
from collections.abc import Iterator
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


def _predictions(
    model: PushkinLM, ids: torch.Tensor, chunk_size: int, min_stream: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Logits (rows, vocab) and targets (rows,) for `ids[1:]`, chunk by chunk, each predicted
    from everything before it in its stream; padding rows have target IGNORE.

    The text is cut into parallel streams of at least `min_stream` characters (a batch is much
    faster than one long sequence); each stream is read in chunks, carrying the LSTM state and
    the attention cache across chunks, exactly as generation does. Only each stream's first
    characters lose context, which costs a negligible amount on long texts.
    """
    num_targets = len(ids) - 1
    streams = max(1, min(32, num_targets // min_stream))
    length = math.ceil(num_targets / streams)
    inputs = torch.zeros(streams * length, dtype=torch.long)
    targets = torch.full((streams * length,), IGNORE, dtype=torch.long)
    inputs[:num_targets], targets[:num_targets] = ids[:-1], ids[1:]
    device = next(model.parameters()).device
    inputs, targets = inputs.view(streams, length).to(device), targets.view(streams, length).to(device)

    was_training = model.training
    model.eval()
    state = None
    try:
        with torch.no_grad():
            for start in range(0, length, chunk_size):
                logits, state = model(inputs[:, start : start + chunk_size], state)
                yield logits.flatten(0, 1).float(), targets[:, start : start + chunk_size].flatten()
    finally:
        model.train(was_training)


def score_ids(model: PushkinLM, ids: torch.Tensor, chunk_size: int = 256, min_stream: int = 2048) -> float:
    """Mean nats per character of `ids[1:]`, each predicted from everything before it."""
    num_targets = len(ids) - 1
    if num_targets < 1:
        return float("nan")
    total = sum(
        F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="sum").item()
        for logits, targets in _predictions(model, ids, chunk_size, min_stream)
    )
    return total / num_targets


def fit_temperature(
    model: PushkinLM, ids: torch.Tensor, chunk_size: int = 256, min_stream: int = 2048
) -> float:
    """The temperature T that minimises the model's nats/char on `ids` when its logits are divided by T.

    A model trained to overfitting is too sure of itself on text it has not seen; one scalar
    fitted on held-out text (temperature scaling, Guo et al., 2017) takes most of that back.
    The loss is convex in 1/T, so L-BFGS finds the optimum in a few steps.
    """
    logits, targets = zip(*_predictions(model, ids, chunk_size, min_stream), strict=True)
    logits, targets = torch.cat(logits), torch.cat(targets)
    logits, targets = logits[targets != IGNORE], targets[targets != IGNORE]
    if len(targets) == 0 or not torch.isfinite(F.cross_entropy(logits, targets)):
        return 1.0  # nothing to fit, or a diverged model: leave it alone, training reports it
    inverse = torch.ones((), device=logits.device, requires_grad=True)
    optimizer = torch.optim.LBFGS([inverse], max_iter=50, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(logits * inverse, targets)
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    fitted = 1.0 / inverse.item() if inverse.item() > 0 else math.nan
    return fitted if math.isfinite(fitted) else 1.0


def score_text(model: PushkinLM, vocab: CharVocab, text: str) -> Score:
    """The model's score on `text`; unseen characters are scored as the unknown id."""
    ids = torch.tensor(vocab.encode(text), dtype=torch.long)
    unknown = sum(1 for c in text[1:] if c not in vocab)
    return Score(score_ids(model, ids), chars=len(text) - 1, unknown_chars=unknown)
