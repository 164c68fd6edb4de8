"""One step of training at a time: the network, its optimizer and weight average, and the
batches it reads, with the state exact resume needs (`state`, `restore`). Under torchrun each
process reads its own rows of every batch and DDP averages the gradients (distributed.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from pushkin_lm.core.device import native_bf16
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.data.corpus import Corpus, MixtureWindows, mixture_random_windows, row_counts
from pushkin_lm.model.network import ModelState, Network
from pushkin_lm.store.run import TrainerState
from pushkin_lm.store.trainer_state import Expected
from pushkin_lm.train.distributed import World
from pushkin_lm.train.recipe import TrainConfig


class Learner:
    def __init__(
        self,
        model: Network,
        corpus: Corpus,
        cfg: TrainConfig,
        device: torch.device,
        world: World | None = None,
    ) -> None:
        world = world or World()
        self.cfg, self.corpus, self.device, self.world = cfg, corpus, device, world
        if device.type == "cuda":  # TF32 in matmuls and cuDNN (the LSTM): float32's range, fast
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        self.model = model.to(device)
        self.network = world.wrap(self.model, device)  # what trains: DDP around the model, or itself
        self.optimizer = make_optimizer(self.model, cfg)
        self.averaged = (
            AveragedModel(self.model, multi_avg_fn=ema_update(cfg.ema_decay)) if cfg.ema_decay else None
        )
        self.batches = torch.Generator().manual_seed(cfg.seed)  # the same on every process
        self.my_rows = slice(world.rank * cfg.batch_size, (world.rank + 1) * cfg.batch_size)
        everyone = (
            cfg.batch_size * world.size
        )  # without consecutive windows, every process draws all, takes its rows
        self.random_rows = row_counts([s.weight for s in corpus.sources], everyone)
        self.windows = None
        if cfg.stateful:
            self.windows = MixtureWindows(
                corpus.sources, cfg.block_size, cfg.batch_size, self.batches, world.rank, world.size
            )
        self.carried: ModelState | None = None  # model state carried between consecutive windows
        # bf16 autocast by default only on a CPU with native bf16; a GPU uses TF32.
        self.bf16 = (device.type == "cpu" and native_bf16()) if cfg.bf16 is None else cfg.bf16

    @property
    def saved_model(self) -> Network:
        """The weights that are evaluated and saved: the moving average, or the trained ones."""
        return self.model if self.averaged is None else self.averaged.module

    def step(self, lr: float) -> float:
        """One optimizer step at learning rate `lr` on the next batch; returns its loss."""
        cfg = self.cfg
        self.network.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.windows is not None:
            x, y, fresh = self.windows.next()
        else:
            x, y = mixture_random_windows(self.corpus.sources, cfg.block_size, self.random_rows, self.batches)
            x, y, fresh = x[self.my_rows], y[self.my_rows], True
        x, y = x.to(self.device), y.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits, carried = self.network(x, None if fresh else self.carried)
        if self.windows is not None:
            self.carried = carried.detach()
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        if not torch.isfinite(loss):
            raise PushkinLMError(f"the loss became {loss.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)
        return loss.item()

    def state(self, **counters) -> TrainerState:
        """The optimizer, generators, batch position and trained weights, with the loop's `counters`.
        Every process must ask at once: the carried state is gathered from all of them."""
        rng = {"torch": torch.get_rng_state(), "batches": self.batches.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        return TrainerState(
            **counters,
            optimizer=self.optimizer.state_dict(),
            rng=rng,
            trained=None if self.averaged is None else self.model.state_dict(),
            ema_updates=0 if self.averaged is None else int(self.averaged.n_averaged),
            windows=None if self.windows is None else self.windows.state_dict(),
            carried={} if self.carried is None else vars(self.world.gather_rows(self.carried)),
            processes=self.world.size,
        )

    def expected(self) -> Expected:
        """What a trainer state of this network and run must hold, tensor by tensor (`check_state`
        refuses any other before `restore` would load it)."""
        shapes = lambda tensors: {name: tuple(t.shape) for name, t in tensors.items()}  # noqa: E731
        carried = None
        if self.windows is not None:
            carried = shapes(vars(self.model.initial_state(self.cfg.batch_size * self.world.size)))
            for name in ("keys", "values"):  # the key cache grows to the window less the current position
                rows, heads, _, width = carried[name]
                carried[name] = (rows, heads, self.model.cfg.attn_window - 1, width)
        return Expected(
            params=[tuple(p.shape) for group in self.optimizer.param_groups for p in group["params"]],
            groups=self.optimizer.state_dict()["param_groups"],
            rng={
                "torch": tuple(torch.get_rng_state().shape),
                "batches": tuple(self.batches.get_state().shape),
            },
            trained=None if self.averaged is None else shapes(self.model.state_dict()),
            carried=carried,
            block_size=self.cfg.block_size,
            processes=self.world.size,
            windows=None if self.windows is None else len(self.windows.parts),
        )

    def restore(self, state: TrainerState) -> None:
        """Continue where `state` left off. The model was built from the saved (average) weights:
        the trained ones go under their average."""
        if state.processes != self.world.size:
            n = state.processes
            again = "python code/train.py" if n == 1 else f"torchrun, --nproc_per_node={n} on one machine"
            raise PushkinLMError(
                f"the run was trained by {n} process{'es' * (n > 1)}, not {self.world.size}; "
                f"resume it with {n} ({again})"
            )
        if self.averaged is not None:
            self.model.load_state_dict(state.trained)
            self.averaged.n_averaged.fill_(state.ema_updates)
        self.optimizer.load_state_dict(state.optimizer)
        torch.set_rng_state(state.rng["torch"])
        self.batches.set_state(state.rng["batches"])
        if "cuda" in state.rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(state.rng["cuda"])
        if self.windows is not None:
            self.windows.load_state_dict(state.windows)
        if state.carried:  # runs saved before keys were shifted carry no (empty) pending key
            empty = vars(self.model.initial_state(self.cfg.batch_size * self.world.size))
            everyone = ModelState(**{k: state.carried.get(k, v).to(self.device) for k, v in empty.items()})
            self.carried = self.world.my_rows(everyone)


def ema_update(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """AveragedModel's update rule: an exponential moving average whose horizon grows to `decay`'s.

    After n updates the average keeps (1 + n) / (10 + n) of itself, so early on it spans about the
    last tenth of the run and never holds on to the random initial weights; later it spans about
    1 / (1 - decay) steps. Averaging smooths out the noise of the last steps, which on this small
    corpus is worth more than the steps themselves (docs/experiments.md, round 5).
    """

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], num_updates: Tensor) -> None:
        n = float(num_updates)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1 + n) / (10 + n)))

    return update


def make_optimizer(model: Network, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay weight matrices only; biases and LayerNorm gains are not decayed.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.99))
