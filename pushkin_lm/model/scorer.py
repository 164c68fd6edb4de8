"""The scorer: how well a network predicts a text, read in chunks with carried state.

Everything that scores text goes through `predictions`: `evaluate`, training's evaluation and
calibration, and the bench scripts. Calibration lives here too: a trained network's logits are
divided by the calibration temperature only when text is scored, never when it is sampled.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import UNKNOWN, CharVocab
from pushkin_lm.model.network import Network

IGNORE = -100  # the target of padding positions
# Parallel streams: a batch is much faster than one long sequence; each has its own attention
# cache, which model/memory.py counts.
SCORING_STREAMS = 32
MIN_STREAM = 2048  # characters a stream has at the least, so that few lose their context
CHUNK = 256  # characters of each stream per forward pass


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


def predictions(
    model: Network,
    ids: torch.Tensor,
    *,
    max_streams: int = SCORING_STREAMS,
    min_stream: int = MIN_STREAM,
    chunk_size: int = CHUNK,
    grad: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The network's own logits (streams, chunk, vocab) and targets (streams, chunk) for `ids[1:]`,
    chunk by chunk, each target predicted from everything before it in its stream.

    The text is cut into up to `max_streams` parallel streams of at least `min_stream` characters,
    each read in chunks that carry the LSTM state and the attention cache on, exactly as
    generation does; only each stream's first characters lose context. Padding targets are
    IGNORE. With `grad` the chunks keep their graphs (the state is cut between chunks), so a
    caller may learn from one chunk before the next is read (dynamic evaluation).
    """
    num_targets = len(ids) - 1
    streams = max(1, min(max_streams, num_targets // min_stream))
    length = math.ceil(num_targets / streams)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    state = None
    try:
        with torch.set_grad_enabled(grad):
            for start in range(0, length, chunk_size):
                inputs, targets = _chunk(ids, streams, length, start, min(chunk_size, length - start))
                logits, state = model(inputs.to(device), state)
                state = state.detach()
                yield logits.float(), targets.to(device)
    finally:
        model.train(was_training)


def _chunk(ids: torch.Tensor, streams: int, length: int, start: int, size: int) -> tuple[torch.Tensor, ...]:
    """Inputs and targets (streams, size) of one chunk: stream s reads `ids[s * length + start:]`;
    past the text's end the input is 0 and the target IGNORE. Cut from `ids` as they are (a
    whole text's are one byte a character), so memory holds one chunk in int64, never the text."""
    at = torch.arange(streams).unsqueeze(1) * length + torch.arange(start, start + size)
    inside = at < len(ids) - 1
    at = at.clamp(max=len(ids) - 2)
    inputs = ids[at].long().masked_fill(~inside, 0)
    return inputs, ids[at + 1].long().masked_fill(~inside, IGNORE)


def char_losses(model: Network, ids: torch.Tensor, temperature: float = 1.0, **kwargs) -> torch.Tensor:
    """The loss in nats of each of `ids[1:]`, in text order (one stream keeps the order simple:
    pass `max_streams=1` where the order matters more than the speed)."""
    losses = []
    for logits, targets in predictions(model, ids, **kwargs):
        losses.append(F.cross_entropy((logits / temperature).transpose(1, 2), targets, reduction="none"))
    return torch.cat(losses, dim=1).flatten()[: len(ids) - 1]  # streams in text order, padding cut


def score_ids(model: Network, ids: torch.Tensor, temperature: float = 1.0, **kwargs) -> float:
    """Mean nats per character of `ids[1:]` with the logits divided by `temperature`."""
    num_targets = len(ids) - 1
    if num_targets < 1:
        return float("nan")
    total = sum(
        F.cross_entropy((logits / temperature).flatten(0, 1), targets.flatten(), reduction="sum").item()
        for logits, targets in predictions(model, ids, **kwargs)
    )
    return total / num_targets


def fit_temperature(model: Network, ids: torch.Tensor, **kwargs) -> float:
    """The temperature T that minimises the network's nats/char on `ids` when its logits are divided by T.

    A model trained to overfitting is too sure of itself on text it has not seen; one scalar
    fitted on held-out text (temperature scaling, Guo et al., 2017) takes most of that back.
    The loss is convex in 1/T, so L-BFGS finds the optimum in a few steps.
    """
    logits, targets = zip(*predictions(model, ids, **kwargs), strict=True)
    logits, targets = torch.cat(logits, 1).flatten(0, 1), torch.cat(targets, 1).flatten()
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


def score_text(model: Network, vocab: CharVocab, text: str, temperature: float = 1.0) -> Score:
    """The model's score on `text`; unseen characters are scored as the unknown id."""
    ids = vocab.tensor(text)  # one or two bytes a character: a 256 MiB text is not 2 GB of int64
    # Id 0 is every unknown character, and also the unknown slot's own character where the text has it.
    unknown = int((ids[1:] == 0).sum()) - text.count(UNKNOWN, 1)
    if unknown and unknown == len(text) - 1:  # read as one id over and over: a score of nothing
        shown = ", ".join(repr(c) for c in vocab.unknown_chars(text[1:1001])[:5])
        raise PushkinLMError(
            f"every character of the text is outside the model's vocabulary ({shown}), so it would be "
            "scored as the unknown character repeated, which measures nothing; score a text in the "
            "characters the model was trained on"
        )
    return Score(score_ids(model, ids, temperature), chars=len(text) - 1, unknown_chars=unknown)
