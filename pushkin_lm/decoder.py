"""The trained network frozen for generation: one character in, next-character logits out.

Generating a character reads every weight once and does little arithmetic with it, so on a CPU
a step is bound by memory traffic and per-operation overhead. `Decoder` cuts both:

- each LSTM layer is one matrix product over [input, hidden] followed by the cell equations;
- attention keys and values live in a ring buffer of `attn_window` slots. Attention has no
  positional encoding, so the order of the cached positions does not change its output, and a
  new position simply overwrites the oldest: nothing is copied per step. With shifted keys a
  slot pairs a value with the key computed one step earlier;
- with `int8=True` (the default) every matrix is stored as int8 with one scale per output row and
  multiplied by fbgemm's dynamically quantised kernel: a quarter of float32's bytes per step.
  `bench/generate_speed.py` reports what that costs in nats/char.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .memory import PROMPT_CHUNK
from .model import ModelState, PushkinLM
from .vocab import CharVocab


class _Linear:
    """y = x W^T + b, with W either float32 or int8 with a float scale per output row."""

    def __init__(self, weight: Tensor, bias: Tensor | None, int8: bool) -> None:
        weight = weight.detach().float().contiguous()
        bias = None if bias is None else bias.detach().float().contiguous()
        self.int8 = int8
        if int8:
            scales = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12).double()
            zero_points = torch.zeros(weight.size(0), dtype=torch.long)
            # fbgemm's packed int8 weights can only be built from a quantised tensor, which
            # torch marks as deprecated; the pinned torch still provides it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                quantized = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(quantized, bias)
        else:
            self.weight, self.bias = weight, bias

    def __call__(self, x: Tensor) -> Tensor:
        if self.int8:
            return torch.ops.quantized.linear_dynamic(x, self.packed)
        return F.linear(x, self.weight, self.bias)


class Decoder:
    """A `PushkinLM` frozen for generation: `read` a text, then `step` one character at a time
    (batch 1, no gradients). Both return the network's own logits for the next character."""

    def __init__(self, model: PushkinLM, int8: bool = True) -> None:
        self.model = model.eval()  # reads prompts, a chunk at a time
        cfg = self.cfg = model.cfg
        self.embed = model.embed.weight.detach().float()
        # Each layer's gates from one product: [input, hidden] times [W_ih, W_hh].
        self.lstm = [
            _Linear(
                torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], 1), lstm.bias_ih_l0 + lstm.bias_hh_l0, int8
            )
            for lstm in model.lstm
        ]
        norm = lambda ln: (ln.weight.detach().float(), ln.bias.detach().float())  # noqa: E731
        self.ln_out = norm(model.ln_out)
        self.head = _Linear(model.head.weight, model.head.bias, int8)
        if cfg.attention:
            self.ln_attn = norm(model.ln_attn)
            self.qkv = _Linear(model.attn.qkv.weight, None, int8)
            self.proj = _Linear(model.attn.proj.weight, None, int8)
            if cfg.ffn_mult:
                self.ln_ffn = norm(model.ln_ffn)
                self.up = _Linear(model.ffn.up.weight, model.ffn.up.bias, int8)
                self.down = _Linear(model.ffn.down.weight, model.ffn.down.bias, int8)
        self.head_dim = cfg.hidden_size // cfg.num_heads
        self.start(model.initial_state(1))

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, int8: bool = True) -> tuple[Decoder, CharVocab]:
        """The decoder of the checkpoint at `path` (default: the shipped model), and its vocabulary."""
        from .checkpoint import load_checkpoint

        checkpoint = load_checkpoint(path)
        return cls(checkpoint.model, int8=int8), checkpoint.vocab

    @torch.inference_mode()
    def read(self, ids: list[int]) -> Tensor:
        """Start afresh and read `ids` (in chunks, carrying the state on, so that a text of any
        length takes the memory of one chunk); returns the logits (vocab,) after the last one."""
        state = None
        for start in range(0, len(ids), PROMPT_CHUNK):
            logits, state = self.model(torch.tensor([ids[start : start + PROMPT_CHUNK]]), state)
        self.start(state)
        return logits[0, -1]

    def start(self, state: ModelState) -> None:
        """Continue from `state`, as `PushkinLM.forward` left it after reading a prompt."""
        cfg = self.cfg
        self.h = [h.float().clone() for h in state.h[:, :1]]
        self.c = [c.float().clone() for c in state.c[:, :1]]
        shape = (1, cfg.num_heads, cfg.attn_window, self.head_dim)
        self.keys, self.values = torch.zeros(shape), torch.zeros(shape)
        cached = state.keys.size(2)
        self.keys[:, :, :cached] = state.keys[:1]
        self.values[:, :, :cached] = state.values[:1]
        self.seen = cached  # positions written to the ring so far
        self.pending_key = state.pending_key[:1].float().clone()

    @torch.inference_mode()
    def step(self, char_id: int) -> Tensor:
        """Feed one character; returns the logits (vocab,) for the character after it."""
        x = self.embed[char_id : char_id + 1]
        for layer, gates_of in enumerate(self.lstm):
            i, f, g, o = gates_of(torch.cat([x, self.h[layer]], 1)).chunk(4, 1)
            self.c[layer] = torch.sigmoid(f) * self.c[layer] + torch.sigmoid(i) * torch.tanh(g)
            x = self.h[layer] = torch.sigmoid(o) * torch.tanh(self.c[layer])
        if self.cfg.attention:
            x = x + self._attend(F.layer_norm(x, x.shape[1:], *self.ln_attn))
            if self.cfg.ffn_mult:
                x = x + self.down(F.gelu(self.up(F.layer_norm(x, x.shape[1:], *self.ln_ffn))))
        return self.head(F.layer_norm(x, x.shape[1:], *self.ln_out))[0]

    def _attend(self, x: Tensor) -> Tensor:
        heads, window = self.cfg.num_heads, self.cfg.attn_window
        q, k, v = self.qkv(x).view(3, 1, heads, 1, self.head_dim).unbind(0)
        if self.cfg.shift_keys:
            k, self.pending_key = self.pending_key, k
        slot = self.seen % window  # the oldest position, or a free slot
        self.keys[:, :, slot] = k[:, :, 0]
        self.values[:, :, slot] = v[:, :, 0]
        self.seen += 1
        filled = min(self.seen, window)
        y = F.scaled_dot_product_attention(q, self.keys[:, :, :filled], self.values[:, :, :filled])
        return self.proj(y.reshape(1, -1))
