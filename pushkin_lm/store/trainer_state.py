"""A run's trainer state: what exact resume needs besides the saved weights, as `last/`'s
`trainer.safetensors` (named tensors) and `trainer.json` (the rest), and its checks.

A resume trusts nothing in these files: a hand edit, a half-repaired copy or another program's file
of the same name can hold `"step": "3"`, a negative count, a NaN moment or a tensor of another
shape, and each would surface as a traceback deep inside torch or, worse, as a run that continues
on garbage. So every value is checked for type, shape and range before use, in two steps:
`unpack_state` checks what the files alone can tell (types, ranges, names), `check_state` what only
the network being resumed knows (every tensor's shape and dtype). Each problem is one line in the
wording of every other damaged checkpoint: `FILE: PROBLEM; the checkpoint is damaged, ...`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from torch import Tensor

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.files import read_bytes_bounded
from pushkin_lm.store.integrity import WEIGHT_DTYPES
from pushkin_lm.store.layout import STATE_INFO, STATE_TENSORS

TENSOR_FIELDS = ("optimizer", "rng", "trained", "carried")  # TrainerState's fields kept as tensors
DAMAGED = "the checkpoint is damaged, so the run cannot be resumed; start a new run with --overwrite"
MAX_INFO_BYTES = 16 * 2**20  # a trainer.json is a few kilobytes
MAX_COUNT = 2**63 - 1  # what torch's int64 counters hold


@dataclass
class TrainerState:
    """What exact resume needs besides the saved weights."""

    step: int
    best_val: float
    elapsed_s: float
    eval_seconds: float
    optimizer: dict  # the optimizer's state_dict
    rng: dict[str, Tensor]  # generator states by name
    trained: dict[str, Tensor] | None = None  # the trained weights, where the checkpoint holds their average
    ema_updates: int = 0
    windows: dict | None = None  # where each row of consecutive windows stands
    carried: dict[str, Tensor] = field(default_factory=dict)  # the model state carried between windows
    processes: int = 1  # how many trained together (the carried state holds all their rows)
    data_sha256: list[str] | None = None  # each source's digest (runs saved before it have none)


def damaged(where: Path, problem: str) -> PushkinLMError:
    return PushkinLMError(f"{where}: {problem}; {DAMAGED}")


def pack_state(state: TrainerState) -> dict[str, bytes]:
    """The trainer state as two files: named tensors and a JSON remainder."""
    from safetensors.torch import save

    tensors = {f"rng.{k}": v for k, v in state.rng.items()}
    tensors |= {f"trained.{k}": v for k, v in (state.trained or {}).items()}
    tensors |= {f"carried.{k}": v for k, v in state.carried.items()}
    for index, slots in state.optimizer["state"].items():
        tensors |= {f"optimizer.{index}.{name}": value for name, value in slots.items()}
    scalars = {f.name: getattr(state, f.name) for f in fields(state) if f.name not in TENSOR_FIELDS}
    optimizer = {"param_groups": state.optimizer["param_groups"], "scalars": {}}  # AdamW's are all tensors
    info = scalars | {"optimizer": optimizer, "has_trained": state.trained is not None}
    return {
        STATE_TENSORS: save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}),
        STATE_INFO: json.dumps(info, indent=2).encode("utf-8"),
    }


def _count(low: int) -> Callable[[object], bool]:
    return lambda v: type(v) is int and low <= v <= MAX_COUNT


def _seconds(v: object) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and v >= 0  # type: ignore[arg-type]


def _digests(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(d, str) and re.fullmatch("[0-9a-f]{64}", d) for d in v)


# Every field of trainer.json, as resume needs it; those without a default must be there.
INFO_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "step": (_count(0), "a whole number from 0 to 2**63 - 1"),
    # inf where no evaluation ever improved on the start; never NaN, which no comparison improves on
    "best_val": (lambda v: type(v) in (int, float) and v >= 0, "a number of 0 or more"),  # type: ignore[operator]
    "elapsed_s": (_seconds, "a finite number of 0 or more"),
    "eval_seconds": (_seconds, "a finite number of 0 or more"),
    "ema_updates": (_count(0), "a whole number from 0 to 2**63 - 1"),
    "windows": (lambda v: v is None or isinstance(v, dict), "null or a JSON object"),
    "processes": (_count(1), "a whole number of at least 1"),
    "data_sha256": (lambda v: v is None or _digests(v), "a list of sha256 digests (64 hex digits)"),
    "optimizer": (lambda v: isinstance(v, dict), "a JSON object"),
    "has_trained": (lambda v: isinstance(v, bool), "true or false"),
}
REQUIRED = ("step", "best_val", "elapsed_s", "eval_seconds", "optimizer", "has_trained")


def unpack_state(path: Path, limit: int) -> TrainerState:
    """The trainer state in checkpoint folder `path`, its files read to at most `limit` bytes."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    info_file, tensors_file = path / STATE_INFO, path / STATE_TENSORS
    if not info_file.exists() or not tensors_file.exists():
        raise PushkinLMError(
            f"{path} has no trainer state ({STATE_TENSORS}, {STATE_INFO}), so it cannot be resumed; "
            "start a new run with --overwrite"
        )
    try:
        info = json.loads(read_bytes_bounded(info_file, MAX_INFO_BYTES, "trainer state").decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise damaged(info_file, f"not valid JSON ({err})") from None
    try:
        tensors = load(read_bytes_bounded(tensors_file, limit, "trainer state of this network"))
    except SafetensorError as err:
        raise damaged(tensors_file, f"not a valid safetensors file ({err})") from None
    if isinstance(info, dict) and "lanes" in info:  # its name in runs saved before it was called windows
        info["windows"] = info.pop("lanes")
    _check_info(info, info_file)
    groups = {prefix: {} for prefix in TENSOR_FIELDS}
    for name, tensor in tensors.items():
        prefix, _, rest = name.partition(".")
        if prefix not in groups or not rest:
            raise damaged(tensors_file, f"it holds an unexpected tensor {name}")
        groups[prefix][rest] = tensor
    optimizer = _optimizer(groups["optimizer"], info.pop("optimizer"), info_file, tensors_file)
    trained = groups["trained"] if info.pop("has_trained") else None
    if trained is None and groups["trained"]:
        raise damaged(tensors_file, "it holds trained weights, but trainer.json says has_trained: false")
    return TrainerState(
        **info, optimizer=optimizer, rng=groups["rng"], trained=trained, carried=groups["carried"]
    )


def _check_info(info: object, info_file: Path) -> None:
    if not isinstance(info, dict):
        raise damaged(info_file, "it must be a JSON object")
    for key in info:
        if key not in INFO_FIELDS:
            raise damaged(info_file, f"it has an unknown field {key!r}")
    for key in REQUIRED:
        if key not in info:
            raise damaged(info_file, f"it has no field {key}")
    for key, value in info.items():
        ok, what = INFO_FIELDS[key]
        if not ok(value):
            raise damaged(info_file, f"{key} must be {what}, got {_shown(value)}")
    windows = info.get("windows")
    for part in windows.get("sources", [windows]) if isinstance(windows, dict) else []:
        _check_windows(part, info_file)


def _check_windows(part: object, info_file: Path) -> None:
    keys = ("position", "shift", "row_length")
    if (
        not isinstance(part, dict)
        or sorted(part) != sorted(keys)
        or not all(_count(0)(part[k]) for k in keys)
    ):
        raise damaged(info_file, f"windows must hold whole numbers {', '.join(keys)}, got {_shown(part)}")
    if part["position"] > part["row_length"]:
        raise damaged(info_file, f"windows position {part['position']} is beyond its rows' length")


def _optimizer(tensors: dict[str, Tensor], info: dict, info_file: Path, tensors_file: Path) -> dict:
    groups, scalars = info.get("param_groups"), info.get("scalars", {})
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups) or scalars != {}:
        raise damaged(info_file, "optimizer must hold a list of param_groups (and no scalars)")
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        if not index.isdigit() or not name:
            raise damaged(tensors_file, f"it holds an unexpected tensor optimizer.{key}")
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": groups}


@dataclass
class Expected:
    """What the network being resumed needs of a trainer state: the shape of each tensor by name."""

    params: list[tuple[int, ...]]  # the optimizer's parameters, in its order
    groups: list[dict]  # a fresh optimizer's param_groups: their keys and their values' kinds
    rng: dict[str, tuple[int, ...]]  # the generators' states (cuda's is checked where there is one)
    trained: dict[str, tuple[int, ...]] | None  # the trained weights, where the run averages them
    carried: dict[str, tuple[int, ...]] | None  # the carried state of all rows, keys at their longest
    block_size: int
    processes: int
    windows: int | None  # how many sources' windows, where windows are consecutive


def check_state(state: TrainerState, expected: Expected, path: Path) -> None:
    """Refuse `state` unless each of its values fits the network and run `expected` describes."""
    info_file, tensors_file = path / STATE_INFO, path / STATE_TENSORS
    _check_groups(state.optimizer["param_groups"], expected, info_file)
    for index, slots in sorted(state.optimizer["state"].items()):
        if index >= len(expected.params) or sorted(slots) != ["exp_avg", "exp_avg_sq", "step"]:
            names = ", ".join(f"optimizer.{index}.{name}" for name in sorted(slots))
            raise damaged(tensors_file, f"its optimizer tensors {names} are not AdamW's of this network")
        shape = expected.params[index]
        for name, want in (("exp_avg", shape), ("exp_avg_sq", shape), ("step", ())):
            _tensor(f"optimizer.{index}.{name}", slots[name], want, (torch.float32,), tensors_file)
        if (slots["exp_avg_sq"] < 0).any() or slots["step"] < 0:
            raise damaged(tensors_file, f"optimizer.{index} holds a negative step or squared moment")
    _check_rng(state.rng, expected.rng, tensors_file)
    if (state.trained is None) != (expected.trained is None):
        has = "has no" if state.trained is None else "has"
        raise damaged(
            tensors_file, f"it {has} trained weights, which this run's weight averaging does not fit"
        )
    _named(state.trained or {}, expected.trained or {}, "trained", (torch.float32,), tensors_file)
    if state.ema_updates > state.step:
        raise damaged(info_file, f"ema_updates {state.ema_updates} exceeds step {state.step}")
    if (state.windows is None) != (expected.windows is None):
        raise damaged(info_file, "windows must be given exactly where the run reads consecutive windows")
    if state.windows is not None:
        parts = state.windows.get("sources", [state.windows])
        if len(parts) != expected.windows:
            raise damaged(
                info_file, f"windows has {len(parts)} sources' positions, the run reads {expected.windows}"
            )
        for part in parts:
            if part["shift"] >= expected.block_size or part["position"] % expected.block_size:
                raise damaged(
                    info_file, f"windows {_shown(part)} do not fit {expected.block_size}-character windows"
                )
    if state.carried and expected.carried is not None and state.processes == expected.processes:
        _check_carried(state.carried, expected.carried, tensors_file)


def _check_groups(groups: list[dict], expected: Expected, info_file: Path) -> None:
    if len(groups) != len(expected.groups):
        raise damaged(
            info_file,
            f"the optimizer has {len(groups)} param_groups, the network needs {len(expected.groups)}",
        )
    for number, (group, want) in enumerate(zip(groups, expected.groups, strict=True)):
        if sorted(group) != sorted(want):
            raise damaged(info_file, f"param_groups[{number}] must have the keys {sorted(want)}")
        for key, ref in want.items():
            if not _like(group[key], ref, key):
                raise damaged(
                    info_file, f"param_groups[{number}].{key} must be like {ref!r}, got {_shown(group[key])}"
                )


def _like(value: object, ref: object, key: str) -> bool:
    """Whether `value` is of the kind of a fresh optimizer's `ref` and in the range AdamW accepts."""
    if key == "params":
        return value == ref
    if ref is None or isinstance(ref, bool):
        return value is None or isinstance(value, bool)
    if isinstance(ref, list | tuple):  # betas: each in [0, 1)
        return (
            isinstance(value, list) and len(value) == len(ref) and all(_seconds(b) and b < 1 for b in value)
        )
    return _seconds(value) and (key != "eps" or value > 0)  # type: ignore[operator]


def _check_rng(rng: dict[str, Tensor], expected: dict[str, tuple[int, ...]], where: Path) -> None:
    """The generators' states: a row of bytes each, of the length this torch's generators keep
    (CUDA's is only restored on a GPU, and only its kind is checked)."""
    if "cuda" in rng:
        cuda = rng["cuda"]
        _tensor("rng.cuda", cuda, tuple(cuda.shape[:1]) if cuda.dim() == 1 else (-1,), (torch.uint8,), where)
    _named({k: v for k, v in rng.items() if k != "cuda"}, expected, "rng", (torch.uint8,), where)


def _check_carried(carried: dict[str, Tensor], expected: dict[str, tuple[int, ...]], where: Path) -> None:
    # Runs saved before keys were shifted carry no pending key; the cache grows to its longest.
    older = {k: v for k, v in expected.items() if k in carried or k != "pending_key"}
    for name in ("keys", "values"):
        if name in carried and carried[name].dim() == 4 and carried[name].size(2) <= expected[name][2]:
            older[name] = (*expected[name][:2], carried[name].size(2), expected[name][3])
    _named(carried, older, "carried", WEIGHT_DTYPES, where)


def _named(tensors: dict[str, Tensor], expected: dict, prefix: str, dtypes: tuple, where: Path) -> None:
    extra, missing = sorted(set(tensors) - set(expected)), sorted(set(expected) - set(tensors))
    if extra or missing:
        problem = (
            f"it has no tensor {prefix}.{missing[0]}"
            if missing
            else f"it holds an unexpected tensor {prefix}.{extra[0]}"
        )
        raise damaged(where, problem)
    for name, shape in expected.items():
        _tensor(f"{prefix}.{name}", tensors[name], shape, dtypes, where)


def _tensor(name: str, tensor: Tensor, shape: tuple[int, ...], dtypes: tuple, where: Path) -> None:
    if tensor.dtype not in dtypes:
        kinds = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise damaged(where, f"{name} is a tensor of {str(tensor.dtype).removeprefix('torch.')}, not {kinds}")
    if tuple(tensor.shape) != tuple(shape):
        raise damaged(where, f"{name} has shape {list(tensor.shape)}, the network needs {list(shape)}")
    if tensor.is_floating_point() and not torch.isfinite(tensor).all():
        raise PushkinLMError(f"{where} holds NaN or infinite values in {name}; {DAMAGED}")


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
