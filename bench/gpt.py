"""A small character-level GPT in the style of nanoGPT's CPU recipe: the transformer baseline.

4 layers, 4 heads, 128 wide, block 64, batch 12, AdamW, no dropout -- what nanoGPT suggests for a
CPU. It has its own short training loop, as nanoGPT does; `bench/compare.py` runs it as row (c),
and it runs alone on the standard split too:

    python bench/gpt.py [--minutes 10] [--data train.txt] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pushkin_lm.core.files import read_text
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.data.corpus import random_windows, split_train_val

from corpus import DEFAULT_DATA, VAL_FRACTION


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        )
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = (
            t.view(batch, length, self.n_head, -1).transpose(1, 2)
            for t in self.qkv(self.ln_1(x)).split(width, 2)
        )
        y = (
            F.scaled_dot_product_attention(q, k, v, is_causal=True)
            .transpose(1, 2)
            .reshape(batch, length, width)
        )
        x = x + self.dropout(self.proj(y))
        return x + self.dropout(self.mlp(self.ln_2(x)))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.Sequential(*[Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying, as nanoGPT does
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.size(1)))
        return self.head(self.ln_f(self.blocks(x)))

    def flops_per_char(self) -> float:
        """Training FLOPs per character, by nanoGPT's estimate: 6N + 12 L C T."""
        cfg = self.cfg
        non_embedding = sum(p.numel() for p in self.parameters()) - self.pos.weight.numel()
        return 6 * non_embedding + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size


@torch.no_grad()
def score_sliding(model: GPT, ids: torch.Tensor) -> float:
    """Mean nats/char of ids[1:], scored `stride` targets at a time with a full block of input.

    Every character is predicted from at least block - stride characters of context.
    """
    model.eval()
    block, stride = model.cfg.block_size, model.cfg.block_size // 2
    total = 0.0
    for first in range(1, len(ids), stride):
        stop = min(first + stride, len(ids))
        start = max(0, stop - 1 - block)
        logits = model(ids[start : stop - 1][None])[0, first - 1 - start :]
        total += F.cross_entropy(logits, ids[first:stop], reduction="sum").item()
    model.train()
    return total / (len(ids) - 1)


def train_gpt(
    train_ids: torch.Tensor,
    val_ids: torch.Tensor,
    vocab_size: int,
    minutes: float,
    batch_size: int = 12,
    learning_rate: float = 1e-3,
    seed: int = 1337,
) -> dict:
    """Train for `minutes` of wall-clock time; returns the figures compare.py tabulates."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.99), weight_decay=0.1)
    batches = torch.Generator().manual_seed(seed)
    budget, warmup, step = minutes * 60, 100, 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < budget:
        progress = min(elapsed / budget, 1.0)
        lr = learning_rate * min((step + 1) / warmup, 0.55 + 0.45 * math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = random_windows(train_ids, model.cfg.block_size, batch_size, batches)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
    train_seconds = time.monotonic() - start
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "iterations": step,
        "chars_seen": step * batch_size * model.cfg.block_size,
        "train_seconds": train_seconds,
        "train_nats_per_char": score_sliding(model, train_ids[:50_000]),
        "val_nats_per_char": score_sliding(model, val_ids),
        "flops_per_char": model.flops_per_char(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training budget")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the corpus text file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    text = read_text(args.data)
    vocab = CharVocab.build(text)
    train_ids, val_ids = split_train_val(torch.tensor(vocab.encode(text)), VAL_FRACTION)
    result = train_gpt(train_ids, val_ids, len(vocab), args.minutes)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"char GPT, {result['params']:,} params, {result['iterations']:,} steps in "
        f"{result['train_seconds']:.0f} s: train {result['train_nats_per_char']:.4f}, "
        f"val {result['val_nats_per_char']:.4f} nats/char"
    )


if __name__ == "__main__":
    main()
