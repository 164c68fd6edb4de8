"""The network: character embedding -> LSTM -> causal self-attention -> next-character logits.

The LSTM carries unbounded context in its state; one block of multi-head self-attention on
top lets each position look back exactly at the last `attn_window` LSTM outputs, which is what
rhyme and repeated words need. Attention has no positional embedding: the LSTM outputs already
know where they are, so a window of cached keys/values works at any text position.

Keys are shifted by one position (`shift_keys`): the value of position j is found by the key of
position j - 1. A query describing the text so far then matches the places where the same
context occurred before and reads the character that followed each of them: "what came next
last time", which one attention layer cannot otherwise express (an induction head needs two).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.config import ModelConfig


@dataclass
class ModelState:
    """What generation carries from one character to the next."""

    h: Tensor  # (num_layers, batch, hidden) LSTM hidden state
    c: Tensor  # (num_layers, batch, hidden) LSTM cell state
    keys: Tensor  # (batch, heads, cached, head_dim), at most attn_window - 1 cached positions
    values: Tensor
    pending_key: Tensor  # (batch, heads, 1 if keys are shifted else 0, head_dim): the last key, unpaired

    def detach(self) -> ModelState:
        """The same state cut off from the graph: training carries it, never backpropagates into it."""
        return ModelState(**{name: tensor.detach() for name, tensor in vars(self).items()})


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout of whole feature channels, one mask per sequence shared by all its time steps.

    Recurrent language models regularise better when a unit is dropped for a whole sequence
    (variational dropout, as in AWD-LSTM), and one mask per sequence instead of one per
    character also saves most of the random-number cost, which dominates dropout on CPU.
    """
    if not training or p == 0.0:
        return x
    mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1.0 - p).div_(1.0 - p)
    return x * mask


def embedding_dropout(embed: nn.Embedding, idx: Tensor, p: float, training: bool) -> Tensor:
    """The embeddings of `idx`, with each character of the vocabulary dropped with probability `p`.

    A dropped character is zero wherever it occurs in the batch, so the network has to tell it
    from its context: a regulariser against memorising spellings that, for the plain LSTM on this
    small corpus, helps more than any other (docs/experiments.md, round 5).
    """
    if not training or p == 0.0:
        return embed(idx)
    weight = embed.weight
    mask = weight.new_empty(weight.size(0), 1).bernoulli_(1.0 - p).div_(1.0 - p)
    return F.embedding(idx, weight * mask)


def window_mask(past: int, length: int, window: int) -> Tensor:
    """Which keys each query may see: earlier or itself, and fewer than `window` positions back.

    Queries are the `length` new positions that follow `past` cached ones; True means visible.
    """
    query = torch.arange(past, past + length)[:, None]
    key = torch.arange(past + length)[None, :]
    return (key <= query) & (query - key < window)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_heads
        self.window = cfg.attn_window
        self.shift_keys = cfg.shift_keys
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size, bias=False)
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size, bias=False)

    def forward(
        self, x: Tensor, keys: Tensor, values: Tensor, pending_key: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        batch, length, width = x.shape
        heads = lambda t: t.view(batch, length, self.num_heads, -1).transpose(1, 2)  # noqa: E731
        q, k, v = (heads(t) for t in self.qkv(x).split(width, dim=2))
        if self.shift_keys:
            # The first position's value takes the key carried over from before it (zero at the
            # start of a text); the last position's key waits for the next value.
            k, pending_key = torch.cat([pending_key, k[:, :, :-1]], dim=2), k[:, :, -1:]
        past = keys.size(2)
        k, v = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)

        mask, causal = None, False
        if past == 0 and length <= self.window:
            causal = length > 1  # the fast fused path covers the plain causal case
        elif past + length > self.window or length > 1:
            mask = window_mask(past, length, self.window).to(x.device)
        # No dropout on the attention weights: on CPU it cost more than the rest of the block
        # (a random number per query-key pair); the block's output is dropped instead.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        y = y.transpose(1, 2).reshape(batch, length, width)
        # The next query sees itself plus at most window - 1 cached positions.
        first_kept = max(0, k.size(2) - (self.window - 1))
        out = locked_dropout(self.proj(y), self.dropout, self.training)
        return out, k[:, :, first_kept:], v[:, :, first_kept:], pending_key


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.up = nn.Linear(cfg.hidden_size, cfg.ffn_mult * cfg.hidden_size)
        self.down = nn.Linear(cfg.ffn_mult * cfg.hidden_size, cfg.hidden_size)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor) -> Tensor:
        return locked_dropout(self.down(F.gelu(self.up(x))), self.dropout, self.training)


class Network(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size is None:
            raise PushkinLMError("the model config has no vocab_size; build the network for a vocabulary")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        # One nn.LSTM per layer, so that variational dropout can sit between layers and
        # DropConnect can replace each layer's recurrent weights during training.
        self.lstm = nn.ModuleList(
            nn.LSTM(cfg.embed_dim if layer == 0 else cfg.hidden_size, cfg.hidden_size, batch_first=True)
            for layer in range(cfg.num_layers)
        )
        if cfg.attention:
            self.ln_attn = nn.LayerNorm(cfg.hidden_size)
            self.attn = CausalSelfAttention(cfg)
            if cfg.ffn_mult:
                self.ln_ffn = nn.LayerNorm(cfg.hidden_size)
                self.ffn = FeedForward(cfg)
        self.ln_out = nn.LayerNorm(cfg.hidden_size)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self._init_weights()

    def _init_weights(self) -> None:
        # A forget-gate bias of 1 keeps early gradients flowing through the cell state.
        hidden = self.cfg.hidden_size
        with torch.no_grad():
            for lstm in self.lstm:
                lstm.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
        # Residual branches start small so the block begins close to the identity.
        for module in (getattr(self, "attn", None), getattr(self, "ffn", None)):
            if module is not None:
                out = module.proj if isinstance(module, CausalSelfAttention) else module.down
                nn.init.normal_(out.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def initial_state(self, batch_size: int = 1) -> ModelState:
        cfg, like = self.cfg, {"device": self.head.weight.device, "dtype": self.head.weight.dtype}
        zeros = torch.zeros(cfg.num_layers, batch_size, cfg.hidden_size, **like)
        head_dim = cfg.hidden_size // cfg.num_heads
        empty = torch.zeros(batch_size, cfg.num_heads, 0, head_dim, **like)
        shifting = int(cfg.attention and cfg.shift_keys)
        pending = torch.zeros(batch_size, cfg.num_heads, shifting, head_dim, **like)
        return ModelState(zeros, zeros.clone(), empty, empty.clone(), pending)

    def forward(self, idx: Tensor, state: ModelState | None = None) -> tuple[Tensor, ModelState]:
        """Logits (batch, length, vocab) for every position of `idx`, and the state after it."""
        if state is None:
            state = self.initial_state(idx.size(0))
        x = embedding_dropout(self.embed, idx, self.cfg.embed_dropout, self.training)
        x = locked_dropout(x, self.cfg.dropout, self.training)
        x, h, c = self._lstm_sequence(x, state.h, state.c)
        keys, values, pending_key = state.keys, state.values, state.pending_key
        if self.cfg.attention:
            attended, keys, values, pending_key = self.attn(self.ln_attn(x), keys, values, pending_key)
            x = x + attended
            if self.cfg.ffn_mult:
                x = x + self.ffn(self.ln_ffn(x))
        logits = self.head(self.ln_out(x))  # the network's own: calibration is the scorer's business
        return logits, ModelState(h, c, keys, values, pending_key)

    def _lstm_sequence(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The LSTM stack over a whole window, with dropout between and after the layers."""
        new_h, new_c = [], []
        for layer, lstm in enumerate(self.lstm):
            state = (h[layer : layer + 1], c[layer : layer + 1])
            if self.training and self.cfg.weight_drop:
                # DropConnect: one mask on the recurrent weights for the whole batch, so the
                # recurrence itself is regularised without touching the cuDNN/oneDNN kernel.
                weights = dict(lstm.named_parameters())
                weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"], self.cfg.weight_drop)
                x, (h_layer, c_layer) = torch.func.functional_call(lstm, weights, (x, state))
            else:
                x, (h_layer, c_layer) = lstm(x, state)
            x = locked_dropout(x, self.cfg.dropout, self.training)
            new_h.append(h_layer[0])
            new_c.append(c_layer[0])
        return x, torch.stack(new_h), torch.stack(new_c)
