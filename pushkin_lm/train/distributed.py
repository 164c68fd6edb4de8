"""Training on many processes and machines: PyTorch's DistributedDataParallel under `torchrun`.

    torchrun --standalone --nproc_per_node=2 code/train.py --data train.txt

torchrun starts one process per rank and tells each its place through the environment (`RANK`,
`WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`); `World.from_env` reads it, and a plain
`python code/train.py` is a world of one, on which everything here does nothing.

Every rank builds the same network from the same seed and draws the same random numbers, so all
of them cut the same global batch of `batch_size x world size` rows and each trains on its own
`batch_size` rows of it; DDP averages the gradients, so every rank takes the same step and one
rank's optimizer, generators and weight average stand for all of them. Rank 0 alone logs,
evaluates and saves; the others wait for it at the next step. See docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

from pushkin_lm.core.device import usable_cores
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.model.network import ModelState

ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
MEETING = ("MASTER_ADDR", "MASTER_PORT")  # where the processes meet: rank 0's address and port
# How long a process waits for all the others to join before it gives up, instead of PyTorch's
# 30 minutes: long enough for a slow machine to import torch and read its data, short enough that a
# rank that never comes is reported while its user is still watching.
JOIN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # its place on this machine: the GPU it takes
    local_size: int = 1  # processes on this machine, which share its cores

    @classmethod
    def from_env(cls) -> World:
        """The world torchrun describes in the environment; a world of one without it (a stray
        RANK alone, which other launchers set, does not make one)."""
        if "WORLD_SIZE" not in os.environ:
            return cls()
        values = {}
        for name in ENVIRONMENT:
            text = os.environ.get(name, "0" if "RANK" in name else "1")
            if not text.isdigit():
                raise PushkinLMError(f"{name}={text!r} is not a whole number; start with torchrun")
            values[name] = int(text)
        world = cls(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
        if not (0 <= world.rank < world.size and 0 <= world.local_rank < world.local_size <= world.size):
            raise PushkinLMError(f"the environment describes no possible {world}; start with torchrun")
        return world

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process logs, evaluates and saves."""
        return self.rank == 0

    def launcher(self) -> str:
        """What starts this world again, in front of `code/train.py` (for the resume command)."""
        if not self.distributed:
            return "python"
        if self.local_size == self.size:
            return f"torchrun --standalone --nproc_per_node={self.size}"
        return "the same torchrun command with"

    def threads(self) -> int:
        """CPU threads per process where the user gave none: this machine's cores, shared out.
        (torchrun itself sets OMP_NUM_THREADS=1, which would leave cores idle.)"""
        return max(1, usable_cores() // self.local_size)

    def device(self, device: torch.device) -> torch.device:
        """Each process on a machine takes its own GPU."""
        if device.type == "cuda" and self.distributed:
            if self.local_rank >= torch.cuda.device_count():
                raise PushkinLMError(
                    f"{self.local_size} processes on this machine but torch sees "
                    f"{torch.cuda.device_count()} GPUs; use --nproc_per_node={torch.cuda.device_count()}"
                )
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def start(self, device: torch.device) -> None:
        """Join the other processes: NCCL between GPUs, gloo between CPUs. A meeting point that is
        missing, does not resolve, or where the others never come is one line, not a traceback
        after PyTorch's retries or a 30-minute wait."""
        if not self.distributed or dist.is_initialized():
            return
        address, port = self._meeting_point()
        backend = "nccl" if device.type == "cuda" else "gloo"
        timeout = timedelta(seconds=JOIN_TIMEOUT_S)
        try:
            with _stderr_aside():
                dist.init_process_group(backend, rank=self.rank, world_size=self.size, timeout=timeout)
        except dist.DistError as err:
            why = (str(err).strip() or type(err).__name__).splitlines()[0].rstrip(".")
            raise PushkinLMError(
                f"process {self.rank} of {self.size} could not meet the others at {address}:{port} "
                f"within {JOIN_TIMEOUT_S:.0f} s ({why}); start every process with the same torchrun "
                "command, and check that rank 0's address is reachable from each"
            ) from None

    def _meeting_point(self) -> tuple[str, str]:
        """MASTER_ADDR and MASTER_PORT, present and resolvable (torchrun sets both)."""
        missing = [name for name in MEETING if not os.environ.get(name)]
        if missing:
            raise PushkinLMError(
                f"WORLD_SIZE={self.size} asks for {self.size} processes, but {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set; start with torchrun, which sets them"
            )
        address, port = os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise PushkinLMError(f"MASTER_PORT={port!r} is not a port (1 to 65535); start with torchrun")
        try:
            socket.getaddrinfo(address, int(port))
        except (OSError, UnicodeError) as err:
            raise PushkinLMError(
                f"MASTER_ADDR={address!r} does not resolve ({getattr(err, 'strerror', None) or err}); "
                "give rank 0's address"
            ) from None
        return address, port

    def __enter__(self) -> World:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        """Leave the other processes together, once rank 0 has saved. After an error torchrun
        stops them all: waiting for the others then could wait forever."""
        if self.distributed and dist.is_initialized() and error_type is None:
            dist.barrier()  # without it, a process that leaves first can abort the others' gloo
            dist.destroy_process_group()

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The module that trains: `model` itself, or DDP around it, averaging gradients."""
        if not self.distributed:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def agree(self, elapsed_s: float, stopping: bool) -> tuple[float, bool]:
        """The longest time any rank has trained, and whether any was asked to stop: every rank
        decides to stop at the same step, or the others would wait for it forever."""
        if not self.distributed:
            return elapsed_s, stopping
        both = torch.tensor([elapsed_s, float(stopping)], dtype=torch.float64, device=self._device())
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        return float(both[0]), bool(both[1])

    def gather_rows(self, state: ModelState) -> ModelState:
        """The carried state of every rank's rows in rank order: the whole global batch."""
        if not self.distributed:
            return state
        parts = [
            _all_gather(tensor, dim=1 if name in ("h", "c") else 0) for name, tensor in vars(state).items()
        ]
        return ModelState(*parts)

    def my_rows(self, state: ModelState) -> ModelState:
        """This rank's rows of the whole global batch's state (what `gather_rows` returned)."""
        if not self.distributed:
            return state
        rows = state.keys.size(0) // self.size
        mine = slice(self.rank * rows, (self.rank + 1) * rows)
        return ModelState(
            state.h[:, mine], state.c[:, mine], state.keys[mine], state.values[mine], state.pending_key[mine]
        )

    def _device(self) -> torch.device:
        """Where the small tensors the processes exchange live: NCCL sends only GPU tensors."""
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def _all_gather(tensor: torch.Tensor, dim: int) -> torch.Tensor:
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=dim)


@contextlib.contextmanager
def _stderr_aside() -> Iterator[None]:
    """PyTorch's C++ store client logs every retry of a failed connection to stderr, a dozen
    lines of stack frames each. Written aside while the processes meet: dropped where meeting fails
    (the error says it in one line), passed on where it succeeds."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as aside:
        os.dup2(aside.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        aside.seek(0)  # only where the block succeeded
        sys.stderr.write(aside.read().decode("utf-8", "replace"))
