"""Fine-tuning: a new run that starts from a trained model's weights (`--init_from`), with a
fresh optimizer and schedule, as textgenrnn and nanoGPT's `init_from` let people do.

The network keeps the starting checkpoint's shape; only its regularisation (dropout settings)
may be set anew. Characters of the new text that the model has never seen extend its
vocabulary: the old ids and their rows are kept, and each new character's embedding and output
rows start as copies of the unknown-character slot's, the model's own guess for a character it
does not know, so the start is exactly the trained model on the old characters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.network import Network
from pushkin_lm.store.checkpoint import (
    Checkpoint,
    hub_repo_id,
    load_checkpoint,
    read_model_config,
    resolve_checkpoint_dir,
)

REGULARISATION = ("dropout", "embed_dropout", "weight_drop")  # the rest of ModelConfig shapes the weights
VOCAB_ROWS = ("embed.weight", "head.weight", "head.bias")  # the tensors with a row per character


def starting_config(reference: str, given: dict[str, Any]) -> ModelConfig:
    """The network a fine-tuning run trains: the checkpoint's, with the regularisation `given`.
    Another size is refused: the weights could not carry over."""
    with _named_init_from():  # its settings checked as loading checks them: a damaged one is one line
        cfg = read_model_config(resolve_checkpoint_dir(reference))
    for name, value in given.items():
        saved = getattr(cfg, name, value)
        if name not in REGULARISATION and saved != value:
            raise PushkinLMError(
                f"--init_from {reference} brings its own network ({name}: {saved} there, {value} "
                f"given); drop --{name} (only --{', --'.join(REGULARISATION)} may change when fine-tuning)"
            )
    return replace(cfg, **{k: v for k, v in given.items() if k in REGULARISATION})


def load_start(reference: str) -> Checkpoint:
    """The checkpoint a fine-tuning run starts from."""
    with _named_init_from():
        return load_checkpoint(reference)


@contextmanager
def _named_init_from() -> Iterator[None]:
    """Loading errors tell how to pass another checkpoint, naming the usual flag: here it is this one."""
    try:
        yield
    except PushkinLMError as err:
        raise PushkinLMError(str(err).replace("--checkpoint", "--init_from")) from None


def extend_vocab(vocab: CharVocab, text: str) -> CharVocab:
    """`vocab` with the characters of `text` it lacks appended, in code-point order."""
    new = sorted(set(vocab.unknown_chars(text)))
    return CharVocab((*vocab.chars, *new))


def grown_model(checkpoint: Checkpoint, cfg: ModelConfig) -> Network:
    """The checkpoint's network under `cfg` (its regularisation), with rows for `cfg.vocab_size`
    characters: the old ones kept, each new one a copy of the unknown slot's (id 0)."""
    regularised = {name: getattr(cfg, name) for name in REGULARISATION}
    if cfg != replace(checkpoint.model.cfg, vocab_size=cfg.vocab_size, **regularised):
        raise PushkinLMError(
            f"the network settings differ from those of {checkpoint.path}, the checkpoint fine-tuning "
            "starts from; take them from finetune.starting_config"
        )
    weights = checkpoint.model.state_dict()
    added = cfg.vocab_size - len(checkpoint.vocab)
    for name in VOCAB_ROWS:
        rows = weights[name]
        weights[name] = torch.cat([rows, rows[:1].expand(added, *rows.shape[1:])])
    model = Network(cfg)
    model.load_state_dict(weights)
    return model


def origin(reference: str, checkpoint: Checkpoint, vocab: CharVocab) -> dict[str, Any]:
    """What a fine-tuned run's metadata records about where it started."""
    meta = checkpoint.meta
    return {
        "checkpoint": hub_repo_id(reference) or str(checkpoint.path),
        "val_nats_per_char": meta.get("best_val_nats_per_char"),
        "data_source": meta.get("data_source"),
        "steps": meta.get("step"),
        "new_chars": "".join(vocab.chars[len(checkpoint.vocab) :]),
    }
