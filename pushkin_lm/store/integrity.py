"""What a checkpoint holds, checked before any of it is used: a damaged file is one line, never a
traceback from deep inside torch, matplotlib or the model card.

A checkpoint that still parses can be damaged anyway: a hand edit, a truncated download repaired by
a tool, another program's file of the same name. So every value read from `config.json` (the
model's settings, the vocabulary, the metadata training wrote) and from `model.safetensors` (each
tensor's name, dtype, shape and values, the calibration temperature) is checked for type, shape and
range here, and each problem is reported as `FILE: PROBLEM; the checkpoint is damaged, use another
one`, the wording of every other damaged-checkpoint error.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from pathlib import Path

import torch

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.model.config import ModelConfig

DAMAGED = "the checkpoint is damaged, use another one"
TEMPERATURE = "calibration_temperature"  # its tensor in the weights file, beside the network's
# The dtypes save_checkpoint writes; float64 is not among them (it would overflow to inf in float32)
# and an integer or boolean tensor is no trained weight at all.
WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
# float16's largest value: the shipped networks' weights stay below 4, and a value beyond this
# cannot have been trained (training's float16 and bf16 arithmetic would overflow) but makes every
# score NaN.
MAX_WEIGHT = 65504.0


def damaged(where: Path, problem: str) -> PushkinLMError:
    return PushkinLMError(f"{where}: {problem}; {DAMAGED}")


def model_config(config: dict, config_path: Path) -> ModelConfig:
    """The network's settings in `config`, each of its type and in its range."""
    try:
        return ModelConfig.from_json(config.get("model"))
    except (PushkinLMError, TypeError) as err:
        raise damaged(config_path, str(err)) from None


def vocabulary(config: dict, config_path: Path) -> CharVocab:
    """The vocabulary in `config`: one string of distinct characters, the unknown slot first."""
    try:
        vocab = CharVocab.from_json(config.get("vocab"))
    except PushkinLMError as err:
        raise damaged(config_path, str(err)) from None
    surrogates = [c for c in vocab.chars if unicodedata.category(c) == "Cs"]
    if surrogates:  # JSON can spell half a character ("\ud800"), which no output could ever print
        raise damaged(
            config_path, f"the vocabulary holds a lone surrogate {surrogates[0]!r}, not a character"
        )
    return vocab


def _number(low: float, finite: bool = True) -> Callable[[object], bool]:
    def ok(value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return (not finite or math.isfinite(value)) and value >= low

    return ok


def _count(low: int) -> Callable[[object], bool]:
    return lambda value: type(value) is int and value >= low


def _string(value: object) -> bool:
    return isinstance(value, str)


def _mapping(value: object) -> bool:
    return isinstance(value, dict)


def _losses(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and _number(0)(v) for k, v in value.items())


# The metadata fields pushkin-lm itself writes and later reads (the model card, resuming, the
# progress line, --init_from's record): each as that reader needs it, or absent. Other keys are
# free-form and pass through untouched.
META_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "step": (_count(0), "a whole number of 0 or more"),
    "elapsed_s": (_number(0), "a finite number of 0 or more"),
    "train_s": (_number(0), "a finite number of 0 or more"),
    "train_nats_per_char": (_number(0), "a finite number of 0 or more"),
    "val_nats_per_char": (_number(0), "a finite number of 0 or more"),
    # inf where no evaluation ever improved on the start
    "best_val_nats_per_char": (_number(0, finite=False), "a number of 0 or more"),
    "temperature": (lambda v: _number(0)(v) and v > 0, "a finite number above 0"),
    "val_by_source": (_losses, "an object of source names and finite numbers"),
    "data_source": (_string, "a string"),
    "train_chars": (_count(0), "a whole number of 0 or more"),
    "train_config": (_mapping, "a JSON object"),
    "saved_at": (_string, "a string"),
    "pushkin_lm_version": (_string, "a string"),
    "processes": (_count(1), "a whole number of at least 1"),
    "started_from": (_mapping, "a JSON object"),
    "weights_dtype": (lambda v: v in ("float16", "float32"), "'float16' or 'float32'"),
    "trained_on": (_string, "a string"),
}


def metadata(config: dict, config_path: Path) -> dict:
    """The metadata in `config` (an object; {} where there is none), its known fields checked."""
    meta = config.get("meta")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise damaged(config_path, f"meta must be a JSON object, got {_shown(meta)}")
    for key, (ok, what) in META_FIELDS.items():
        if key in meta and not (meta[key] is None and key.endswith("_nats_per_char")) and not ok(meta[key]):
            raise damaged(config_path, f"meta field {key} must be {what}, got {_shown(meta[key])}")
    return meta


def _shown(value: object, limit: int = 40) -> str:
    """`value` for a message: a 5,000-digit number or a long string cut to `limit` characters."""
    text = (
        repr(value)
        if not isinstance(value, int) or abs(value) < 10**limit
        else f"a {len(str(abs(value)))}-digit number"
    )
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def check_weights(weights: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: Path) -> float:
    """The calibration temperature of `weights` (1 where none was stored), refusing them unless they
    are exactly the tensors of `expected` (the network the config describes: names and shapes)
    plus that temperature, each of a float dtype and finite, the temperature a positive scalar."""
    folder = path.parent
    extra = sorted(set(weights) - set(expected) - {TEMPERATURE})
    missing = sorted(set(expected) - set(weights))
    if extra or missing:
        problem = f"it has no tensor {missing[0]}" if missing else f"it holds an unexpected tensor {extra[0]}"
        raise damaged(folder, f"the weights do not match the model config ({problem})")
    for name in [
        *expected,
        TEMPERATURE,
    ]:  # the network's order, so the first problem named is always the same
        if name not in weights:
            continue
        tensor = weights[name]
        want = () if name == TEMPERATURE else tuple(expected[name].shape)
        if tuple(tensor.shape) != want:
            needs = "a single number" if name == TEMPERATURE else f"shape {list(want)}"
            raise damaged(
                folder,
                f"the weights do not match the model config ({name} has shape {list(tensor.shape)}, "
                f"the config needs {needs})",
            )
        _check_values(name, tensor, path)
    temperature = float(weights[TEMPERATURE]) if TEMPERATURE in weights else 1.0
    if not temperature > 0:
        raise PushkinLMError(
            f"{path} has a calibration temperature of {temperature}, which must be above 0; {DAMAGED}"
        )
    return temperature


def _check_values(name: str, tensor: torch.Tensor, path: Path) -> None:
    if tensor.dtype not in WEIGHT_DTYPES:
        dtype = str(tensor.dtype).removeprefix("torch.")
        raise damaged(path, f"{name} is a tensor of {dtype}, where weights are float32, float16 or bfloat16")
    if not torch.isfinite(tensor).all():
        raise PushkinLMError(f"{path} holds NaN or infinite values in {name}; {DAMAGED}")
    largest = tensor.abs().max().item() if tensor.numel() else 0.0
    if largest > MAX_WEIGHT:
        raise damaged(
            path, f"{name} holds a value of {largest:.3g}, beyond any trained weight ({MAX_WEIGHT:,.0f})"
        )
