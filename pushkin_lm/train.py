"""Training: random (or consecutive) windows of the training split, AdamW, warmup + cosine decay.

`Trainer` prepares data, model and optimizer (or restores them from `out/last` to resume
exactly), and `Trainer.run` is the loop, readable top to bottom. The weights it evaluates and
saves are an exponential moving average of the trained ones (`ema_decay`), with the output
temperature fitted on a calibration slice held out from the end of the training split
(`calib_fraction`). Every `eval_interval` steps it scores the whole validation split, saves
`out/best` when validation improved and `out/last` (with the trained weights, optimizer and RNG
state) always. SIGINT and SIGTERM stop it cleanly after the current step, saving `out/last` first.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.optim.swa_utils import AveragedModel

from . import __version__, trainstate
from .checkpoint import load_checkpoint, read_config, resolve_checkpoint_dir, save_checkpoint
from .data import ConsecutiveWindows, random_windows, read_text, resolve_data_path, split_train_val
from .errors import PushkinLMError, TrainingInterrupted
from .evaluate import fit_temperature, score_ids
from .memory import require_memory, training_bytes
from .model import ModelConfig, ModelState, PushkinLM
from .progress import Progress
from .run import LOG_FILE, RunLock, check_out_dir
from .sample import MAX_SEED
from .vocab import CharVocab

TRAIN_SCORE_CHARS = 50_000  # a fixed slice of the training split, scored like validation
CALIB_FIT_CHARS = 50_000  # at most this much of the calibration slice (its end) fits the temperature
HUB_SOURCE = "hf://datasets/abobster/pushkin_new/train.txt"
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    data: str | None = None  # a text file or a folder with train.txt; None: the Hub dataset
    out_dir: str = "out"
    val_fraction: float = 0.1  # the last 10 % validates
    calib_fraction: float = 0.05  # the training split's tail, held out to fit the output temperature
    batch_size: int = 32
    block_size: int = 128
    max_iters: int = 100_000
    max_minutes: float | None = 10.0  # wall-clock budget; the LR schedule spans it
    learning_rate: float = 2e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.99  # evaluate and save a moving average of the weights; 0: the weights themselves
    eval_interval: int = 250
    bf16: bool | None = None  # bfloat16 autocast for training steps; None: where the CPU has native bf16
    stateful: bool = True  # carry model state across consecutive windows (False: random windows)
    seed: int = 1337
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    device: str = "auto"  # "cpu", "cuda", or "auto": a CUDA GPU where torch sees one, else the CPU
    progress: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise PushkinLMError(f"{f.name} must be a finite number, got {value}")
        if not 0 <= self.seed <= MAX_SEED:
            raise PushkinLMError(f"seed must be a whole number from 0 to 2**64 - 1, got {self.seed}")
        for name in ("batch_size", "block_size", "max_iters", "eval_interval"):
            if getattr(self, name) < 1:
                raise PushkinLMError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise PushkinLMError(f"max_minutes must be more than 0, got {self.max_minutes}")
        if not self.learning_rate > 0 or not 0 <= self.min_lr <= self.learning_rate:
            raise PushkinLMError("learning_rate must be > 0 and min_lr in [0, learning_rate]")
        if self.warmup_iters < 0 or self.weight_decay < 0 or not self.grad_clip > 0:
            raise PushkinLMError("warmup_iters and weight_decay must be >= 0, grad_clip > 0")
        if not 0 <= self.ema_decay < 1:
            raise PushkinLMError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        for name in ("val_fraction", "calib_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise PushkinLMError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.threads is not None and not 1 <= self.threads <= usable_cores():
            raise PushkinLMError(
                f"threads must be from 1 to the {usable_cores()} CPU cores this process may use, "
                f"got {self.threads}; more threads than cores makes every step many times slower"
            )
        if self.device not in DEVICES:
            raise PushkinLMError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")

    # Settings a resumed run may change: they leave the recipe alone (device and threads change
    # only floating-point rounding).
    RESUMABLE = ("max_iters", "max_minutes", "eval_interval", "threads", "data", "device")


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS says, else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def learning_rate_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over `warmup_iters` steps, then cosine decay to `min_lr` as progress -> 1."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / cfg.warmup_iters
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.min_lr + cosine * (cfg.learning_rate - cfg.min_lr)


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


def resolve_device(name: str) -> torch.device:
    """The device `name` means; asking for CUDA where torch sees no GPU is an error, not a fallback."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise PushkinLMError("--device cuda, but torch sees no CUDA GPU here; use --device cpu")
    return torch.device(name)


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 / AMX), where autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def make_optimizer(model: PushkinLM, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay weight matrices only; biases and LayerNorm gains are not decayed.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.99))


def saved_run(out_dir: str | Path) -> tuple[TrainConfig, dict]:
    """The training and model settings of the run whose `last` checkpoint is in `out_dir`."""
    try:
        last = resolve_checkpoint_dir(Path(out_dir) / "last")  # or its copy set aside mid-save
    except PushkinLMError:
        raise PushkinLMError(
            f"{out_dir} holds no resumable run (no last/ checkpoint); check the --resume path"
        ) from None
    config = read_config(last)
    saved = config.get("meta", {}).get("train_config")
    if not isinstance(saved, dict):
        raise PushkinLMError(f"{last} has no training settings, so it cannot be resumed; start a new run")
    names = {f.name for f in fields(TrainConfig)}
    model = {k: v for k, v in ModelConfig.from_json(config["model"]).to_json().items() if k != "vocab_size"}
    # Runs saved before weight averaging and calibration were trained without them.
    settings = {"ema_decay": 0.0, "calib_fraction": 0.0} | saved
    return TrainConfig(**{k: v for k, v in settings.items() if k in names}), model


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model_settings: dict | None = None,
        *,
        overwrite: bool = False,
        resume: bool = False,
        log=print,
    ) -> None:
        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out_dir)
        self.device = resolve_device(cfg.device)  # before anything is written
        check_out_dir(self.out, overwrite=overwrite, resume=resume)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)

        # Data: one vocabulary over the whole file (as nanoGPT does), a fixed 90/10 split.
        self.data_path = resolve_data_path(cfg.data)
        text = read_text(self.data_path)
        self.vocab = CharVocab.build(text)
        ids = torch.tensor(self.vocab.encode(text), dtype=torch.long)
        self.train_ids, self.val_ids = split_train_val(ids, cfg.val_fraction)
        # The calibration slice is never trained on: the temperature fitted on it says how sure
        # the model should be of text it has not seen, without touching the validation split.
        self.train_ids, self.calib_ids = split_train_val(self.train_ids, cfg.calib_fraction)
        if len(self.train_ids) <= cfg.block_size + 1:
            raise PushkinLMError(
                f"{self.data_path} is too short: its training split has {len(self.train_ids)} characters "
                f"but one window needs {cfg.block_size + 2}; use a longer text or a smaller --block_size"
            )

        if self.device.type == "cuda":
            # TF32 in matmuls and cuDNN (the LSTM): float32's range at tensor-core speed.
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        model_cfg = ModelConfig(vocab_size=len(self.vocab), **(model_settings or {}))
        require_memory(
            training_bytes(model_cfg, cfg.batch_size, cfg.block_size),
            self.device,
            "training this network with this batch",
            "use a smaller --hidden_size, --num_layers, --attn_window, --batch_size or --block_size",
        )
        self.model = PushkinLM(model_cfg).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        self.averaged = None  # the moving average of the weights, which is evaluated and saved
        if cfg.ema_decay:
            self.averaged = AveragedModel(self.model, multi_avg_fn=ema_update(cfg.ema_decay))
        self.batches = torch.Generator().manual_seed(cfg.seed)
        self.lanes = None
        if cfg.stateful:
            self.lanes = ConsecutiveWindows(self.train_ids, cfg.block_size, cfg.batch_size, self.batches)
        self.carried = None  # model state carried between consecutive windows
        # bf16 autocast by default only on a CPU with native bf16; a GPU uses TF32 (set above).
        self.bf16 = (self.device.type == "cpu" and native_bf16()) if cfg.bf16 is None else cfg.bf16
        self.step, self.best_val, self.elapsed_before, self.eval_seconds = 0, math.inf, 0.0, 0.0
        if resume:
            self._restore()
        self.stop_signal: str | None = None
        self.log_mode = "a" if resume else "w"  # a fresh run replaces the log at its first evaluation

    # ------------------------------------------------------------------ the loop

    def run(self, stop_at: int | None = None) -> dict:
        """Train until max_iters, the time budget, a signal, or step `stop_at`; returns final metrics."""
        cfg = self.cfg
        budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        self.log(
            f"data {self.data_path}: vocab {len(self.vocab)}, train {len(self.train_ids):,} / calibration "
            f"{len(self.calib_ids):,} / val {len(self.val_ids):,} chars; "
            f"model {self.model.num_params():,} params on {self.device}"
            + (f"; resuming at step {self.step}" if self.step else "")
        )
        progress_report = Progress(cfg.progress, self.log)
        self.write = progress_report.write
        start = time.monotonic() - self.elapsed_before
        metrics: dict = {}
        with RunLock(self.out), _StopOnSignals(self):
            self.model.train()
            while self.step < cfg.max_iters and time.monotonic() - start < budget_s:
                progress = max(self.step / cfg.max_iters, (time.monotonic() - start) / budget_s)
                lr = learning_rate_at(cfg, self.step, progress)
                loss = self._train_step(lr)
                progress_report.update(progress, self.step, loss, lr)
                if self.step % cfg.eval_interval == 0 or self.step == cfg.max_iters:
                    metrics = self._evaluate_and_save(time.monotonic() - start)
                if self.stop_signal or self.step == stop_at:
                    break
            if not metrics or metrics["step"] != self.step:  # stopped between evaluations
                metrics = self._evaluate_and_save(time.monotonic() - start)
            progress_report.close()
        if self.stop_signal:
            raise TrainingInterrupted(
                f"stopped by {self.stop_signal} at step {self.step}; saved {self.out / 'last'}; "
                f"continue with: python code/train.py --resume {self.out}"
            )
        elapsed = time.monotonic() - start
        self.log(
            f"done: {self.step} steps in {elapsed / 60:.1f} min; best val {self.best_val:.4f} nats/char "
            f"({self.best_val / math.log(2):.4f} bits/char); checkpoint in {self.out / 'best'}"
        )
        return {
            **metrics,
            "best_val_nats_per_char": self.best_val,
            "steps": self.step,
            "elapsed_s": elapsed,
            "train_seconds": elapsed - self.eval_seconds,  # time in training steps alone
        }

    def _train_step(self, lr: float) -> float:
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.lanes is not None:
            x, y, fresh = self.lanes.next()
        else:
            x, y = random_windows(self.train_ids, cfg.block_size, cfg.batch_size, self.batches)
            fresh = True
        x, y = x.to(self.device), y.to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits, carried = self.model(x, None if fresh else self.carried)
        if self.lanes is not None:
            self.carried = carried.detach()
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        if not torch.isfinite(loss):
            raise PushkinLMError(
                f"the loss became {loss.item()} at step {self.step}; the last good checkpoints are kept "
                f"in {self.out}; lower --learning_rate and train again"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model)
        self.step += 1
        return loss.item()

    # ------------------------------------------------------------------ evaluation and checkpoints

    @property
    def saved_model(self) -> PushkinLM:
        """The weights that are evaluated and saved: the moving average, or the trained ones."""
        return self.model if self.averaged is None else self.averaged.module

    def calibrated_model(self) -> PushkinLM:
        """A copy of the saved weights, its temperature fitted on the held-out calibration slice."""
        model = copy.deepcopy(self.saved_model)
        model.calibration_temperature.fill_(1.0)  # fit on the network's own logits
        if len(self.calib_ids) > 1:
            model.calibration_temperature.fill_(fit_temperature(model, self.calib_ids[-CALIB_FIT_CHARS:]))
        return model

    def evaluate(self, model: PushkinLM) -> dict:
        """nats/char on the whole validation split and on a fixed slice of the training split."""
        parts = {"train": self.train_ids[:TRAIN_SCORE_CHARS], "val": self.val_ids}
        scores = {
            f"{name}_nats_per_char": score_ids(model, ids) for name, ids in parts.items() if len(ids) > 1
        }
        return {**scores, "temperature": model.calibration_temperature.item()}

    def _evaluate_and_save(self, elapsed: float) -> dict:
        started = time.monotonic()
        model = self.calibrated_model()
        metrics = {"step": self.step, "elapsed_s": round(elapsed, 1), **self.evaluate(model)}
        self.eval_seconds += time.monotonic() - started
        val = metrics.get("val_nats_per_char", metrics["train_nats_per_char"])
        improved = val < self.best_val
        if improved:
            self.best_val = val
            self._save("best", model, metrics)
        self._save("last", model, metrics, with_trainer_state=True)
        try:
            with open(self.out / LOG_FILE, self.log_mode, encoding="utf-8") as log_file:
                log_file.write(json.dumps(metrics) + "\n")
        except OSError as err:
            raise PushkinLMError(
                f"cannot write {self.out / LOG_FILE}: {err.strerror}; free some disk space "
                "(the checkpoints are intact)"
            ) from None
        self.log_mode = "a"
        scores = [
            f"{name.removesuffix('_nats_per_char')} {value:.4f} nats ({value / math.log(2):.3f} bits)"
            for name, value in metrics.items()
            if name.endswith("_nats_per_char")
        ]
        self.write(
            f"step {self.step:>6} | {elapsed / 60:5.1f} min | "
            + " | ".join(scores)
            + f" | temperature {metrics['temperature']:.2f}"
            + (" | best" if improved else "")
        )
        return metrics

    def _save(self, name: str, model: PushkinLM, metrics: dict, with_trainer_state: bool = False) -> None:
        meta = {
            **metrics,
            "best_val_nats_per_char": self.best_val,
            "data_source": str(self.cfg.data) if self.cfg.data else HUB_SOURCE,
            "train_chars": len(self.train_ids),
            "train_config": asdict(self.cfg),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "pushkin_lm_version": __version__,
        }
        extra = self._trainer_state(metrics["elapsed_s"]) if with_trainer_state else None
        save_checkpoint(self.out / name, model, self.vocab, meta, extra_files=extra)

    def _trainer_state(self, elapsed: float) -> dict[str, bytes]:
        tensors, optimizer_info = trainstate.optimizer_to_flat(self.optimizer)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.batches"] = self.batches.get_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        info = {
            "step": self.step,
            "best_val": self.best_val,
            "elapsed_s": elapsed,
            "eval_seconds": self.eval_seconds,
            "optimizer": optimizer_info,
        }
        if self.lanes is not None:
            info["lanes"] = self.lanes.state_dict()
        if self.carried is not None:
            tensors.update({f"carried.{k}": v for k, v in vars(self.carried).items()})
        if self.averaged is not None:  # the checkpoint holds the average; resuming needs both
            tensors.update({f"trained.{k}": v for k, v in self.model.state_dict().items()})
            info["ema_updates"] = int(self.averaged.n_averaged)
        return trainstate.pack(tensors, info)

    def _restore(self) -> None:
        """Continue from `out/last`: weights, their average, optimizer, RNGs, batch position, counters."""
        last = self.out / "last"
        saved = load_checkpoint(last)
        if saved.vocab != self.vocab:  # first: another text also changes the model's vocab_size
            raise PushkinLMError(
                f"{self.data_path} has other characters than the text {last} was trained on "
                f"({len(saved.vocab) - 1} distinct there, {len(self.vocab) - 1} here); "
                "resume with the same --data"
            )
        if saved.model.cfg != self.model.cfg:
            raise PushkinLMError(
                f"{last} was trained with other model settings ({_diff(saved.model.cfg, self.model.cfg)}); "
                "resume without changing model-size flags, or start a new run with --overwrite"
            )
        tensors, info = trainstate.unpack(saved.path)  # `last`, or its copy set aside mid-save
        try:
            if self.averaged is None:
                self.model.load_state_dict(saved.model.state_dict())
            else:
                self.averaged.module.load_state_dict(saved.model.state_dict())
                self.averaged.n_averaged.fill_(int(info["ema_updates"]))
                prefix = "trained."
                trained = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
                self.model.load_state_dict(trained)
            trainstate.optimizer_from_flat(self.optimizer, tensors, info["optimizer"])
            torch.set_rng_state(tensors["rng.torch"])
            self.batches.set_state(tensors["rng.batches"])
            if "rng.cuda" in tensors and self.device.type == "cuda":
                torch.cuda.set_rng_state(tensors["rng.cuda"])
            if self.lanes is not None:
                self.lanes.load_state_dict(info["lanes"])
            if "carried.h" in tensors:
                # Runs saved before keys were shifted carry no pending key; theirs is empty.
                empty = self.model.initial_state(self.cfg.batch_size)
                self.carried = ModelState(
                    **{k: tensors.get(f"carried.{k}", v).to(self.device) for k, v in vars(empty).items()}
                )
            # Without averaging, `last` holds the trained weights, calibrated; they train at 1.
            self.model.calibration_temperature.fill_(1.0)
            self.step, self.best_val = int(info["step"]), float(info["best_val"])
            self.elapsed_before, self.eval_seconds = float(info["elapsed_s"]), float(info["eval_seconds"])
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise PushkinLMError(
                f"the trainer state in {last} is damaged ({type(err).__name__}: {err}); "
                "start a new run with --overwrite"
            ) from None


def _diff(a: ModelConfig, b: ModelConfig) -> str:
    return ", ".join(
        f"{k}: {v} there, {getattr(b, k)} now" for k, v in asdict(a).items() if getattr(b, k) != v
    )


class _StopOnSignals:
    """Turn the first SIGINT/SIGTERM into a request to stop after the current step."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def _handle(self, signum, frame) -> None:
        if self.trainer.stop_signal:  # a second signal: stop now
            raise KeyboardInterrupt
        self.trainer.stop_signal = signal.Signals(signum).name
        self.trainer.write(
            f"{self.trainer.stop_signal}: saving {self.trainer.out / 'last'} after this step ..."
        )

    def __enter__(self) -> _StopOnSignals:
        self.previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def train(cfg: TrainConfig, model_settings: dict | None = None, log=print, **kwargs) -> dict:
    """Train a model as `cfg` says (see Trainer for the keyword options); returns the final metrics."""
    return Trainer(cfg, model_settings, log=log, **kwargs).run()
