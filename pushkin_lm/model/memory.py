"""How much memory a network needs, worked out from its settings before anything is allocated.

A size typed by mistake (`--hidden_size 1000000`, `--attn_window 1000000000000`, or the same in a
checkpoint's config.json) would otherwise fail deep inside torch with a traceback, or take the
machine down with it. Training checks the larger of its own needs and generation's, so whatever
training accepts also generates.
"""

from __future__ import annotations

import os

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.scorer import SCORING_STREAMS

FLOAT_BYTES = 4
PROMPT_CHUNK = 512  # characters of a prompt read per forward pass


def param_count(cfg: ModelConfig) -> int:
    """The number of trained parameters of `Network(cfg)`, without building it.

    A closed form, not the network built on torch's meta device: that would import torch._dynamo
    (0.9 s of every generate) and loop over an absurd --num_layers. tests/model/test_model.py holds
    it equal to the network's own count, so a new variant that forgets this fails there."""
    hidden, vocab = cfg.hidden_size, cfg.vocab_size
    count = vocab * cfg.embed_dim + hidden * vocab + vocab + 2 * hidden  # embedding, head, ln_out
    # LSTM layers: the first reads embeddings, the others hidden states
    count += 4 * hidden * (cfg.embed_dim + hidden + 2) + (cfg.num_layers - 1) * 4 * hidden * (2 * hidden + 2)
    if cfg.attention:
        count += 2 * hidden + 4 * hidden * hidden  # ln_attn, qkv, proj
        if cfg.ffn_mult:
            width = cfg.ffn_mult * hidden
            count += 2 * hidden + 2 * hidden * width + width + hidden
    return count


def _attention_bytes(cfg: ModelConfig, rows: int, length: int) -> int:
    """Cached keys and values plus one pass's attention weights, for `rows` texts of `length`."""
    if not cfg.attention:
        return 0
    cache = 2 * rows * cfg.attn_window * cfg.hidden_size
    weights = rows * cfg.num_heads * length * (length + cfg.attn_window)
    return (cache + weights) * FLOAT_BYTES


def generation_bytes(cfg: ModelConfig) -> int:
    """Weights (and their int8 copy), the attention cache, and reading a prompt in chunks."""
    activations = PROMPT_CHUNK * (8 * cfg.hidden_size * cfg.num_layers + cfg.vocab_size) * FLOAT_BYTES
    return 2 * param_count(cfg) * FLOAT_BYTES + activations + _attention_bytes(cfg, 1, PROMPT_CHUNK)


def training_bytes(cfg: ModelConfig, batch_size: int, block_size: int) -> int:
    """Weights, gradients, AdamW's two moments and the weight average, one step's activations
    (about a dozen hidden-sized values per layer and position), and evaluation's streams."""
    tokens = batch_size * block_size
    per_token = 12 * cfg.hidden_size * (cfg.num_layers + 2 + cfg.ffn_mult) + 3 * cfg.vocab_size
    rows = max(batch_size, SCORING_STREAMS)
    steps = 5 * param_count(cfg) * FLOAT_BYTES + tokens * per_token * FLOAT_BYTES
    return max(steps + _attention_bytes(cfg, rows, block_size), generation_bytes(cfg))


def machine_bytes(device: torch.device) -> int:
    """The memory of `device`: the GPU's own, or the machine's physical memory."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): assume a large machine
        return 2**40


def require_memory(needed: int, device: torch.device, what: str, fix: str) -> None:
    """Refuse, in one line, settings that need more memory than `device` has."""
    have = machine_bytes(device)
    if needed > have:
        where = "GPU" if device.type == "cuda" else "machine"
        raise PushkinLMError(
            f"{what} would need about {_gib(needed)} of memory but this {where} has {_gib(have)}; {fix}"
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n < 2**70 else f"about 2^{n.bit_length() - 31} GiB"
