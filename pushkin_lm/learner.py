"""One step of training at a time: the network, its optimizer and weight average, and the
batches it reads, with the state exact resume needs (`state`, `restore`). Under torchrun each
process reads its own rows of every batch and DDP averages the gradients (distributed.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel

from .data import Corpus, MixtureWindows, lane_counts, mixture_random_windows
from .device import native_bf16
from .distributed import World
from .errors import PushkinLMError
from .model import ModelState, PushkinLM
from .recipe import TrainConfig, ema_update, make_optimizer
from .run import TrainerState


class Learner:
    def __init__(
        self,
        model: PushkinLM,
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
        everyone = cfg.batch_size * world.size  # without lanes, every process draws all, takes its rows
        self.random_rows = lane_counts([s.weight for s in corpus.sources], everyone)
        self.lanes = None
        if cfg.stateful:
            self.lanes = MixtureWindows(
                corpus.sources, cfg.block_size, cfg.batch_size, self.batches, world.rank, world.size
            )
        self.carried: ModelState | None = None  # model state carried between consecutive windows
        # bf16 autocast by default only on a CPU with native bf16; a GPU uses TF32.
        self.bf16 = (device.type == "cpu" and native_bf16()) if cfg.bf16 is None else cfg.bf16

    @property
    def saved_model(self) -> PushkinLM:
        """The weights that are evaluated and saved: the moving average, or the trained ones."""
        return self.model if self.averaged is None else self.averaged.module

    def step(self, lr: float) -> float:
        """One optimizer step at learning rate `lr` on the next batch; returns its loss."""
        cfg = self.cfg
        self.network.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.lanes is not None:
            x, y, fresh = self.lanes.next()
        else:
            x, y = mixture_random_windows(self.corpus.sources, cfg.block_size, self.random_rows, self.batches)
            x, y, fresh = x[self.my_rows], y[self.my_rows], True
        x, y = x.to(self.device), y.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits, carried = self.network(x, None if fresh else self.carried)
        if self.lanes is not None:
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
            lanes=None if self.lanes is None else self.lanes.state_dict(),
            carried={} if self.carried is None else vars(self.world.gather_lanes(self.carried)),
            processes=self.world.size,
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
        if self.lanes is not None:
            self.lanes.load_state_dict(state.lanes)
        if state.carried:  # runs saved before keys were shifted carry no (empty) pending key
            empty = vars(self.model.initial_state(self.cfg.batch_size * self.world.size))
            everyone = ModelState(**{k: state.carried.get(k, v).to(self.device) for k, v in empty.items()})
            self.carried = self.world.my_lanes(everyone)
