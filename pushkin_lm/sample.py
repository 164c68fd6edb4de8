"""Sampling text from a model one character at a time, streaming as it goes."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from .decoder import Decoder
from .errors import PushkinLMError
from .memory import PROMPT_CHUNK
from .model import ModelState, PushkinLM
from .vocab import CharVocab

# Text starts after a poem boundary, so the model begins a fresh poem.
POEM_BREAK = "\n\n</s>\n\n"
MAX_SEED = 2**64 - 1  # torch's generators take seeds of up to 64 bits
# Below this a temperature would overflow float32 logits: it means what 0 means, greedy.
MIN_TEMPERATURE = torch.finfo(torch.float32).tiny


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


def start_context(vocab: CharVocab) -> str:
    """Unprinted text that comes before the prompt: a poem boundary where the vocabulary has one."""
    for context in (POEM_BREAK, "\n"):
        if not vocab.unknown_chars(context):
            return context
    return vocab.chars[-1]


def check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not 0 <= temperature < math.inf:  # also refuses NaN
        raise PushkinLMError(f"temperature must be 0 (greedy) or a finite number above it, got {temperature}")
    if top_k is not None and top_k < 1:
        raise PushkinLMError(f"top_k must be at least 1, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise PushkinLMError(f"top_p must be in (0, 1], got {top_p}")


def check_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise PushkinLMError(f"seed must be a whole number from 0 to 2**64 - 1, got {seed}")


def check_prompt(vocab: CharVocab, prompt: str) -> None:
    """Refuse a prompt with characters the model has never seen, naming them."""
    unknown = vocab.unknown_chars(prompt)
    if unknown:
        shown = "".join(unknown[:10])
        raise PushkinLMError(
            f"the prompt has characters the model does not know: {shown!r}; remove or replace them"
        )


def read_prompt(model: PushkinLM, vocab: CharVocab, text: str) -> tuple[Tensor, ModelState]:
    """The logits after `text` and the state that continues it, reading `text` in chunks.

    Each chunk carries the LSTM state and the attention cache on, exactly as generation does, so a
    prompt of any length takes the memory of one chunk.
    """
    state = None
    for start in range(0, len(text), PROMPT_CHUNK):
        chunk = torch.tensor([vocab.encode(text[start : start + PROMPT_CHUNK])])
        logits, state = model(chunk, state)
    return logits[0, -1], state


@torch.inference_mode()
def generate(
    model: PushkinLM,
    vocab: CharVocab,
    prompt: str = "",
    max_new_chars: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    decoder: Decoder | None = None,
) -> Iterator[str]:
    """Yield `max_new_chars` characters that continue `prompt`, one at a time.

    The prompt is read in chunks with carried state; after that each step feeds only the newest character to
    `decoder`: the LSTM state and a bounded key/value cache carry the rest, so a character costs
    the same however long the text already is. By default a `Decoder(model)` with int8 weights is
    built; pass `Decoder(model, int8=False)` for the exact model, or one decoder to reuse across
    calls (it restarts from the prompt's state each time).
    """
    check_sampling_args(temperature, top_k, top_p)
    check_seed(seed)
    check_prompt(vocab, prompt)
    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else torch.seed())
    model.eval()
    logits, state = read_prompt(model, vocab, start_context(vocab) + prompt)
    # Sampling temperature is relative to the network's own logits, as the decoder gives them;
    # the calibration temperature is for scoring unseen text.
    logits = logits * model.calibration_temperature
    decoder = decoder or Decoder(model)
    decoder.start(state)
    for _ in range(max_new_chars):
        logits[0] = float("-inf")  # never emit the unknown-character slot
        next_id = sample_next(logits, temperature, top_k, top_p, generator)
        yield vocab.chars[next_id]
        logits = decoder.step(next_id)
