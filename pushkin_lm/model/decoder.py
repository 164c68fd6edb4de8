"""The trained network frozen for generation: one character in, next-character logits out.

Generating a character reads every weight once and does little arithmetic with it, so on a CPU
a step is bound by memory traffic and per-operation overhead. `Decoder` cuts both:

- each LSTM layer is one matrix product over [input, hidden] followed by the cell equations;
- attention keys and values live in a ring buffer of `attn_window` slots. Attention has no
  positional encoding, so the order of the cached positions does not change its output, and a
  new position simply overwrites the oldest: nothing is copied per step. With shifted keys a
  slot pairs a value with the key computed one step earlier;
- with `int8=True` (the default) every matrix is stored as int8 with one scale per output row and
  multiplied by fbgemm's dynamically quantised kernel (oneDNN's for many lanes on a CPU with AMX):
  a quarter of float32's bytes per step.
  `bench/generate_speed.py` reports what that costs in nats/char.

Lanes (`fork`, `step_many`, `select`, `keep`, `unfork`) step many continuations of one text at
once, so a generator can try 32 candidate lines for about three times the price of one: a batch
of rows reads each weight once, as one row does. The attention cache at the fork is shared by
all lanes, read in place; only the positions written after it are kept per lane. Copying the
whole ring per lane would cost more than the batch saves (32 lanes: 32 MB per fork, and as much
read per step).
int8 products quantise their input with one scale for the whole batch, so a lane's int8 logits
differ slightly from a single-lane run's; in float32 they agree.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.memory import PROMPT_CHUNK
from pushkin_lm.model.network import ModelState, Network

MANY_ROWS = 8  # from this many rows (lanes) on, int8 products may take another engine (see _Linear)


class _Linear:
    """y = x W^T + b, with W either float32 or int8 with a float scale per output row."""

    def __init__(self, weight: Tensor, bias: Tensor | None, int8: bool, lanes_engine: str = "fbgemm") -> None:
        weight = weight.detach().float().contiguous()
        bias = None if bias is None else bias.detach().float().contiguous()
        self.int8, self.lanes_engine = int8, lanes_engine
        if int8:
            scales = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12).double()
            zero_points = torch.zeros(weight.size(0), dtype=torch.long)
            # fbgemm's packed int8 weights can only be built from a quantised tensor, which
            # torch marks as deprecated; the pinned torch still provides it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                quantized = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(quantized, bias)
            self.quantized, self.bias, self.packed_rows = quantized, bias, None
        else:
            self.weight, self.bias = weight, bias

    def __call__(self, x: Tensor) -> Tensor:
        if self.int8:
            packed = self.packed if x.size(0) < MANY_ROWS else self._packed_for_rows()
            return torch.ops.quantized.linear_dynamic(x, packed)
        return F.linear(x, self.weight, self.bias)

    def _packed_for_rows(self) -> object:
        """The int8 weights packed for `lanes_engine`, built on first use (fbgemm's own packing
        where that is the engine, or where oneDNN is missing). The engines agree to float rounding
        (1e-6)."""
        if self.packed_rows is None:
            self.packed_rows = self.packed
            engines = torch.backends.quantized.supported_engines
            if self.lanes_engine != "fbgemm" and self.lanes_engine in engines:
                engine = torch.backends.quantized.engine
                try:
                    torch.backends.quantized.engine = self.lanes_engine
                    self.packed_rows = torch.ops.quantized.linear_prepack(self.quantized, self.bias)
                finally:
                    torch.backends.quantized.engine = engine
        return self.packed_rows


@functools.cache  # /proc/cpuinfo is read once
def lanes_engine_for_this_cpu() -> str:
    """The int8 engine for MANY_ROWS lanes or more: oneDNN on a CPU with AMX tiles, where at 32
    lanes it was 1.3-2x faster than fbgemm (and 2x slower at one); fbgemm elsewhere, which on an
    AMD EPYC with AVX-512 VNNI and no AMX was 1.1-1.3x faster at 8-32 lanes
    (bench/results/lane-steps.txt; `python bench/lane_steps.py` prints both for its machine)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()  # how Linux lists what the CPU has
    except OSError:
        flags = []
    return "onednn" if "amx_tile" in flags else "fbgemm"


def _tanh(x: Tensor) -> Tensor:
    """tanh; for MANY_ROWS rows or more as 2 sigmoid(2x) - 1, the same to float rounding (2e-7).
    On the AMD EPYC of bench/results/lane-steps.txt torch.tanh took 41 us for 32 rows of 512 (8 %
    of a 32-lane step), the sigmoid form 19 us; below 8 rows its extra calls cost more than they save."""
    if x.size(0) < MANY_ROWS:
        return torch.tanh(x)
    return torch.sigmoid(2 * x).mul_(2).sub_(1)


class Decoder:
    """A `Network` frozen for generation: `read` a text, then `step` one character at a time
    (batch 1, no gradients). Both return the network's own logits for the next character."""

    def __init__(self, model: Network, int8: bool = True, lanes_engine: str | None = None) -> None:
        """`lanes_engine`: the int8 engine for MANY_ROWS lanes or more ("fbgemm" or "onednn");
        None: `lanes_engine_for_this_cpu()`."""
        self.model = model.eval()  # reads prompts, a chunk at a time
        cfg = self.cfg = model.cfg
        engine = lanes_engine or lanes_engine_for_this_cpu()
        linear = lambda weight, bias: _Linear(weight, bias, int8, engine)  # noqa: E731
        self.embed = model.embed.weight.detach().float()
        # Each layer's gates from one product: [input, hidden] times [W_ih, W_hh].
        self.lstm = [
            linear(torch.cat([lstm.weight_ih_l0, lstm.weight_hh_l0], 1), lstm.bias_ih_l0 + lstm.bias_hh_l0)
            for lstm in model.lstm
        ]
        norm = lambda ln: (ln.weight.detach().float(), ln.bias.detach().float())  # noqa: E731
        self.ln_out = norm(model.ln_out)
        self.head = linear(model.head.weight, model.head.bias)
        if cfg.attention:
            self.ln_attn = norm(model.ln_attn)
            self.qkv = linear(model.attn.qkv.weight, None)
            self.proj = linear(model.attn.proj.weight, None)
            if cfg.ffn_mult:
                self.ln_ffn = norm(model.ln_ffn)
                self.up = linear(model.ffn.up.weight, model.ffn.up.bias)
                self.down = linear(model.ffn.down.weight, model.ffn.down.bias)
        self.head_dim = cfg.hidden_size // cfg.num_heads
        self.start(model.initial_state(1))

    @torch.inference_mode()
    def read(self, ids: Sequence[int] | Tensor) -> Tensor:
        """Start afresh and read `ids` (in chunks, carrying the state on, so that a text of any
        length takes the memory of one chunk); returns the logits (vocab,) after the last one.
        `ids` may be a compact tensor (`CharVocab.tensor`): a 16 MiB prompt is then 8 MB, not a
        list of 64."""
        state = None
        for start in range(0, len(ids), PROMPT_CHUNK):
            chunk = torch.as_tensor(ids[start : start + PROMPT_CHUNK], dtype=torch.long).unsqueeze(0)
            logits, state = self.model(chunk, state)
        self.start(state)
        return logits[0, -1]

    def start(self, state: ModelState) -> None:
        """Continue from `state`, as `Network.forward` left it after reading a prompt."""
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
        self.forked: _Fork | None = None

    @property
    def lanes(self) -> int:
        """How many continuations the decoder carries: 1 unless forked."""
        return self.h[0].size(0)

    @torch.inference_mode()
    def step(self, char_id: int) -> Tensor:
        """Feed one character; returns the logits (vocab,) for the character after it."""
        if self.forked is not None:
            if self.lanes > 1:
                raise PushkinLMError(f"step feeds one lane, the decoder has {self.lanes}: use step_many")
            self.keep(0)  # the one lane of fork(1): back to the plain ring
        return self._forward(self.embed[char_id : char_id + 1], self._attend)[0]

    def fork(self, lanes: int) -> None:
        """Copy the current state into `lanes` lanes for `step_many`; the cache stays shared."""
        if self.forked is not None:
            raise PushkinLMError(f"the decoder already has {self.lanes} lanes; select one before forking")
        self.forked = _Fork(self, lanes)
        copies = lambda t: t.expand(lanes, *t.shape[1:]).clone()  # noqa: E731
        self.h, self.c = [copies(h) for h in self.h], [copies(c) for c in self.c]
        self.pending_key = copies(self.pending_key)

    def unfork(self) -> None:
        """Drop every lane: back to the one-lane state of the fork, e.g. to fork afresh."""
        if self.forked is not None:
            self.h, self.c, self.pending_key = self.forked.origin
            self.seen, self.forked = self.forked.start, None

    @torch.inference_mode()
    def step_many(self, ids: Tensor) -> Tensor:
        """Feed one character to each lane (`ids`: (lanes,)); returns the logits (lanes, vocab)."""
        if self.forked is None or ids.shape != (self.lanes,):
            raise PushkinLMError(f"step_many needs one id per lane of a forked decoder ({self.lanes} lanes)")
        return self._forward(self.embed[ids], self._attend_lanes)

    @torch.inference_mode()
    def select(self, indices: Tensor | list[int]) -> None:
        """Continue from these lanes, in this order (repeats allowed): lane i becomes indices[i]."""
        if self.forked is None:
            raise PushkinLMError("select needs a forked decoder")
        idx = torch.as_tensor(indices, dtype=torch.long)
        self.h, self.c = [h[idx] for h in self.h], [c[idx] for c in self.c]
        self.pending_key = self.pending_key[idx]
        self.forked.select(idx)

    @torch.inference_mode()
    def keep(self, lane: int) -> None:
        """Continue from one lane alone, with `step`: its positions since the fork go into the
        ring, which no other lane reads any more."""
        self.select([lane])
        assert self.forked is not None
        slots, own = self.forked.merge_slots()
        self.keys[:, :, slots] = self.forked.keys[:, :, own]
        self.values[:, :, slots] = self.forked.values[:, :, own]
        self.forked = None

    def _forward(self, x: Tensor, attend: Callable[[Tensor], Tensor]) -> Tensor:
        """The network on one character per lane (`x`: embeddings, (lanes, embed_dim))."""
        for layer, gates_of in enumerate(self.lstm):
            i, f, g, o = gates_of(torch.cat([x, self.h[layer]], 1)).chunk(4, 1)
            self.c[layer] = torch.sigmoid(f) * self.c[layer] + torch.sigmoid(i) * _tanh(g)
            x = self.h[layer] = torch.sigmoid(o) * _tanh(self.c[layer])
        if self.cfg.attention:
            x = x + attend(F.layer_norm(x, x.shape[1:], *self.ln_attn))
            if self.cfg.ffn_mult:
                x = x + self.down(F.gelu(self.up(F.layer_norm(x, x.shape[1:], *self.ln_ffn))))
        return self.head(F.layer_norm(x, x.shape[1:], *self.ln_out))

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

    def _attend_lanes(self, x: Tensor) -> Tensor:
        """Attention of every lane over the shared ring (as it was at the fork, its positions that
        have left the window masked) and over the lane's own positions since."""
        fork, lanes = self.forked, x.size(0)
        assert fork is not None
        q, k, v = self.qkv(x).view(lanes, 3, self.cfg.num_heads, 1, self.head_dim).unbind(1)
        if self.cfg.shift_keys:
            k, self.pending_key = self.pending_key, k
        own_keys, own_values = fork.write(k[:, :, 0], v[:, :, 0])
        self.seen += 1
        q = q * self.head_dim**-0.5
        # Lanes are the query rows of one product per head, so the shared keys are read once.
        ring = torch.bmm(q[:, :, 0].transpose(0, 1), fork.ring_keys_t)  # (heads, lanes, shared)
        ring = ring.masked_fill(fork.gone(self.seen), float("-inf"))
        own = torch.matmul(q, own_keys.transpose(2, 3))[:, :, 0].transpose(0, 1)  # (heads, lanes, own)
        weights = torch.softmax(torch.cat([ring, own], 2), 2)
        shared = ring.size(2)
        y = torch.bmm(weights[:, :, :shared], fork.ring_values).transpose(0, 1)  # (lanes, heads, head_dim)
        y = y + torch.matmul(weights[:, :, shared:].transpose(0, 1)[:, :, None], own_values)[:, :, 0]
        return self.proj(y.reshape(lanes, -1))


class _Fork:
    """The lanes' view of attention: the decoder's ring as it was at the fork, shared and never
    written, and each lane's positions since, in a ring of its own (grown as needed, up to the
    attention window, as lines are short)."""

    def __init__(self, decoder: Decoder, lanes: int) -> None:
        seen, window = decoder.seen, decoder.cfg.attn_window
        self.origin = (decoder.h, decoder.c, decoder.pending_key)  # fork gives the lanes new lists
        self.start, self.window, self.written = seen, window, 0
        shared = min(seen, window)
        # Keys transposed once per fork so that every step's product reads them contiguously.
        self.ring_keys_t = decoder.keys[0, :, :shared].transpose(1, 2).contiguous()
        self.ring_values = decoder.values[0, :, :shared]
        # The text position each shared slot holds: the newest `shared` positions before the fork.
        self.positions = seen - 1 - (seen - 1 - torch.arange(shared)) % window
        shape = (lanes, decoder.cfg.num_heads, min(window, 64), decoder.head_dim)
        self.keys, self.values = torch.empty(shape), torch.empty(shape)  # only written slots are read

    def write(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append one position per lane; returns the lanes' own keys and values in the window."""
        size = self.keys.size(2)
        if self.written == size and size < self.window:
            self.keys, self.values = self._grown(self.keys), self._grown(self.values)
        slot = self.written % self.window
        self.keys[:, :, slot], self.values[:, :, slot] = k, v
        self.written += 1
        filled = min(self.written, self.window)
        return self.keys[:, :, :filled], self.values[:, :, :filled]

    def _grown(self, t: Tensor) -> Tensor:
        size = t.size(2)
        out = t.new_empty(t.size(0), t.size(1), min(2 * size, self.window), t.size(3))
        out[:, :, :size] = t  # doubling keeps the copying linear in the length
        return out

    def gone(self, seen: int) -> Tensor:
        """Shared slots whose positions have left the window once `seen` positions are written."""
        return self.positions < seen - self.window

    def select(self, idx: Tensor) -> None:
        self.keys, self.values = self.keys[idx], self.values[idx]

    def merge_slots(self) -> tuple[Tensor, Tensor]:
        """For folding one lane back into the ring: its positions still in the window, as ring
        slots and as slots of its own ring."""
        kept = min(self.written, self.window)
        own = torch.arange(self.written - kept, self.written)
        return (self.start + own) % self.window, own % self.window
