"""Sampling text from a model one character at a time, streaming as it goes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .decoder import Decoder
from .errors import PushkinLMError
from .settings import MAX_SEED, check, setting
from .vocab import CharVocab

# Text starts after a poem boundary, so the model begins a fresh poem.
POEM_BREAK = "\n\n</s>\n\n"
# Below this a temperature would overflow float32 logits: it means what 0 means, greedy.
MIN_TEMPERATURE = torch.finfo(torch.float32).tiny


@dataclass
class SampleConfig:
    max_tokens: int = setting(500, "new characters to write", minimum=0)
    temperature: float = setting(
        0.8, "divides the network's logits (not its calibration): 0 is greedy; higher is wilder", minimum=0
    )
    top_k: int | None = setting(
        None, "sample only from the k most likely characters (unset: all of them)", minimum=1
    )
    top_p: float | None = setting(
        None,
        "sample only from the smallest set with this much probability (unset: 1, all)",
        above=0,
        maximum=1,
    )
    seed: int | None = setting(
        None,
        "random seed: the same seed gives the same text (unset: a new one each time)",
        minimum=0,
        maximum=MAX_SEED,
    )

    def __post_init__(self) -> None:
        check(self)


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """Draw one id from 1-D `logits`; temperature 0 takes the most likely id."""
    if temperature < MIN_TEMPERATURE:
        return int(logits.argmax())
    allowed = torch.isfinite(logits)  # the unknown slot and anything masked stay out at any temperature
    if top_k is not None and top_k < logits.numel():
        allowed &= logits >= torch.topk(logits, top_k).values[-1]
    # Shifted so the largest is 0: a tiny temperature then gives one 1 and zeros (greedy), a huge
    # one all zeros (uniform), and neither overflows float32.
    logits = ((logits - logits.max()) / temperature).masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p: an id stays if the mass before it
        # is still short of top_p, so the most likely id always stays.
        drop = (sorted_probs.cumsum(0) - sorted_probs) >= top_p
        probs = probs.scatter(0, order[drop], 0.0)
    # Inverse-CDF draw: the same distribution as torch.multinomial at a third of its cost,
    # which matters when the model step itself takes a few hundred microseconds.
    cdf = probs.cumsum(0)
    u = torch.rand(1, generator=generator) * cdf[-1]
    return int(torch.searchsorted(cdf, u, right=True).clamp_max(len(cdf) - 1))


def sample_many(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """`sample_next` for every row of 2-D `logits` (lanes, vocab) at once: one id per row.

    One row draws what `sample_next` draws from the same generator. Vectorised because a
    generator stepping 32 lanes would otherwise spend as long drawing as the network computing.
    """
    if temperature < MIN_TEMPERATURE:
        return logits.argmax(1)
    allowed = torch.isfinite(logits)
    if top_k is not None and top_k < logits.size(1):
        allowed &= logits >= torch.topk(logits, top_k, dim=1).values[:, -1:]
    logits = ((logits - logits.amax(1, keepdim=True)) / temperature).masked_fill(~allowed, float("-inf"))
    probs = torch.softmax(logits, dim=1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = torch.sort(probs, dim=1, descending=True)
        drop = (sorted_probs.cumsum(1) - sorted_probs) >= top_p
        probs = probs.scatter(1, order, sorted_probs.masked_fill(drop, 0.0))
    cdf = probs.cumsum(1)
    u = torch.rand(len(cdf), 1, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_max(cdf.size(1) - 1)


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
    logits = decoder.read(vocab.encode(start_context(vocab) + prompt))
    for _ in range(settings.max_tokens):
        logits[0] = float("-inf")  # never emit the unknown-character slot
        next_id = sample_next(logits, settings.temperature, settings.top_k, settings.top_p, generator)
        yield vocab.chars[next_id]
        logits = decoder.step(next_id)
