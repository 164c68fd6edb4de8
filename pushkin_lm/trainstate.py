"""What exact resume needs besides the weights: optimizer moments, RNG states, counters.

Stored beside the model in the `last` checkpoint as `trainer.safetensors` (tensors) and
`trainer.json` (everything else), so resuming never unpickles anything either.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import PushkinLMError

TENSORS_FILE = "trainer.safetensors"
INFO_FILE = "trainer.json"


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """The optimizer's state as named tensors plus a JSON-able remainder."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict
) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in info["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": info["param_groups"]})


def pack(tensors: dict[str, torch.Tensor], info: dict) -> dict[str, bytes]:
    """The two files of trainer state, ready for an atomic checkpoint write."""
    from safetensors.torch import save

    return {
        TENSORS_FILE: save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}),
        INFO_FILE: json.dumps(info, indent=2).encode("utf-8"),
    }


def unpack(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The trainer state saved in checkpoint folder `path`."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load((path / TENSORS_FILE).read_bytes())
        info = json.loads((path / INFO_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PushkinLMError(
            f"{path} has no trainer state ({TENSORS_FILE}, {INFO_FILE}), so it cannot be resumed; "
            "start a new run with --overwrite"
        ) from None
    except (SafetensorError, ValueError, OSError) as err:
        raise PushkinLMError(
            f"the trainer state in {path} is damaged ({err}); start a new run with --overwrite"
        ) from None
    if not isinstance(info, dict):
        raise PushkinLMError(f"the trainer state in {path} is damaged; start a new run with --overwrite")
    return tensors, info
