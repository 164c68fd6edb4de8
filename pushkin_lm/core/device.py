"""Where torch computes: the device a name means, and what the CPU offers.

torch is imported by the functions that ask it, so that the training settings can name the
devices and count the cores without it (`--help` stays instant).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pushkin_lm.core.errors import PushkinLMError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """The device `name` means: auto is CUDA, then Apple's MPS, then the CPU. Asking for a device
    torch does not see is an error, never a silent fallback."""
    import torch

    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if name == "auto":
        name = next(kind for kind in ("cuda", "mps", "cpu") if available[kind])
    if name not in available:
        raise PushkinLMError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if not available[name]:
        what = "CUDA GPU" if name == "cuda" else "Apple MPS device"
        raise PushkinLMError(f"--device {name}, but torch sees no {what} here; use --device cpu")
    return torch.device(name)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 / AMX), where autocast pays off."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS says, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
