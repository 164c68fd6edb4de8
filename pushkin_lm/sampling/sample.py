"""Sampling text from a model one character at a time, streaming as it goes."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.decoder import Decoder
from pushkin_lm.sampling.config import SampleConfig

# Text starts after a poem boundary, so the model begins a fresh poem.
POEM_BREAK = "\n\n</s>\n\n"
# Below this a temperature would overflow float32 logits: it means what 0 means, greedy.
MIN_TEMPERATURE = torch.finfo(torch.float32).tiny


def sample_many(logits: Tensor, settings: SampleConfig, generator: torch.Generator | None = None) -> Tensor:
    """One id drawn from each row of 2-D `logits` (rows, vocab); temperature 0 takes the most likely.

    Vectorised because a generator stepping 32 lanes would otherwise spend as long drawing as
    the network computing.
    """
    if settings.temperature < MIN_TEMPERATURE:
        return logits.argmax(1)
    # Inverse-CDF draw: the same distribution as torch.multinomial at a third of its cost,
    # which matters when the model step itself takes a few hundred microseconds.
    cdf = probabilities(logits, settings).cumsum(1)
    u = torch.rand(len(cdf), 1, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_max(cdf.size(1) - 1)


def sample_next(logits: Tensor, settings: SampleConfig, generator: torch.Generator | None = None) -> int:
    """One id drawn from 1-D `logits`: `sample_many` of one row, so the two never disagree."""
    return int(sample_many(logits[None], settings, generator)[0])


def probabilities(logits: Tensor, settings: SampleConfig) -> Tensor:
    """What each row of 2-D `logits` is drawn from: divided by the temperature, cut to the top k
    and the top p. A masked id (-inf: the unknown slot, a confined lane) stays out at any temperature."""
    allowed = torch.isfinite(logits)
    if settings.top_k is not None and settings.top_k < logits.size(1):
        allowed &= logits >= torch.topk(logits, settings.top_k, dim=1).values[:, -1:]
    # Shifted so the largest is 0: a tiny temperature then gives one 1 and zeros (greedy), a huge
    # one all zeros (uniform), and neither overflows float32.
    shifted = (logits - logits.amax(1, keepdim=True)) / settings.temperature
    probs = torch.softmax(shifted.masked_fill(~allowed, float("-inf")), dim=1)
    if settings.top_p is not None and settings.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p: an id stays if the mass before it
        # is still short of top_p, so the most likely id always stays.
        drop = (sorted_probs.cumsum(1) - sorted_probs) >= settings.top_p
        probs = probs.scatter(1, order, sorted_probs.masked_fill(drop, 0.0))
    return probs


def start_context(vocab: CharVocab) -> str:
    """Unprinted text that comes before the prompt: a poem boundary where the vocabulary has one."""
    for context in (POEM_BREAK, "\n"):
        if not vocab.unknown_chars(context):
            return context
    return vocab.chars[-1]


def check_prompt(vocab: CharVocab, prompt: str) -> None:
    """Refuse a prompt with characters the model has never seen, naming them."""
    unknown = vocab.unknown_chars(prompt)
    if unknown:
        shown = "".join(unknown[:10])
        raise PushkinLMError(
            f"the prompt has characters the model does not know: {shown!r}; remove or replace them"
        )


@torch.inference_mode()
def generate(
    decoder: Decoder, vocab: CharVocab, prompt: str = "", settings: SampleConfig | None = None
) -> Iterator[str]:
    """Yield `settings.max_tokens` characters that continue `prompt`, one at a time.

    The decoder reads the prompt, then each step feeds it only the newest character: the LSTM
    state and a bounded key/value cache carry the rest, so a character costs the same however
    long the text already is. A decoder may be reused: each call starts it afresh.
    """
    settings = settings or SampleConfig()
    check_prompt(vocab, prompt)
    generator = torch.Generator()
    generator.manual_seed(settings.seed if settings.seed is not None else torch.seed())
    logits = decoder.read(torch.cat([vocab.tensor(start_context(vocab)), vocab.tensor(prompt)]))
    for _ in range(settings.max_tokens):
        logits[0] = float("-inf")  # never emit the unknown-character slot
        next_id = sample_next(logits, settings, generator)
        yield vocab.chars[next_id]
        logits = decoder.step(next_id)
