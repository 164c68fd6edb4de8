"""The training loop: random windows of the training split, AdamW, warmup + cosine decay.

Read it top to bottom: `train` prepares data and model, then loops, evaluating on the whole
validation split every `eval_interval` steps and keeping the best model so far in `out/best`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from . import __version__
from .checkpoint import save_checkpoint
from .data import ConsecutiveWindows, random_windows, read_text, resolve_data_path, split_train_val
from .errors import PushkinLMError
from .evaluate import score_ids
from .model import ModelConfig, PushkinLM
from .vocab import CharVocab

TRAIN_SCORE_CHARS = 50_000  # a fixed slice of the training split, scored like validation


@dataclass
class TrainConfig:
    data: str | None = None  # a text file or a folder with train.txt; None: the Hub dataset
    out_dir: str = "out"
    overwrite: bool = False
    val_fraction: float = 0.1  # the last 10 % validates
    batch_size: int = 32
    block_size: int = 128
    max_iters: int = 100_000
    max_minutes: float | None = 10.0  # wall-clock budget; the LR schedule spans it
    learning_rate: float = 2e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_interval: int = 250
    bf16: bool = False  # bfloat16 autocast for the training step (about 1.5-2x faster on AVX-512 CPUs)
    stateful: bool = False  # carry model state across consecutive windows instead of random windows
    seed: int = 1337
    threads: int | None = None  # torch CPU threads; None keeps torch's default
    progress: bool = True

    def __post_init__(self) -> None:
        positive = ("batch_size", "block_size", "max_iters", "eval_interval")
        for name in positive:
            if getattr(self, name) < 1:
                raise PushkinLMError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise PushkinLMError(f"max_minutes must be more than 0, got {self.max_minutes}")
        if not self.learning_rate > 0 or not 0 <= self.min_lr <= self.learning_rate:
            raise PushkinLMError("learning_rate must be > 0 and min_lr in [0, learning_rate]")
        if self.warmup_iters < 0 or self.weight_decay < 0 or not self.grad_clip > 0:
            raise PushkinLMError("warmup_iters and weight_decay must be >= 0, grad_clip > 0")
        if self.threads is not None and self.threads < 1:
            raise PushkinLMError(f"threads must be at least 1, got {self.threads}")


def learning_rate_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over `warmup_iters` steps, then cosine decay to `min_lr` as progress -> 1."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / cfg.warmup_iters
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.min_lr + cosine * (cfg.learning_rate - cfg.min_lr)


def make_optimizer(model: PushkinLM, cfg: TrainConfig) -> torch.optim.AdamW:
    # Decay weight matrices only; biases and LayerNorm gains are not decayed.
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.99))


def prepare_out_dir(cfg: TrainConfig) -> Path:
    out = Path(cfg.out_dir)
    if (out / "best").exists() and not cfg.overwrite:
        raise PushkinLMError(
            f"{out} already holds a checkpoint; pass --overwrite to replace it or choose another --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PushkinLMError(f"cannot write to out dir {out}: {err.strerror}; choose another --out") from None
    return out


def train(cfg: TrainConfig, model_settings: dict | None = None, log=print) -> dict:
    """Train a model as `cfg` says; returns the final metrics. Checkpoints go to `cfg.out_dir`."""
    out = prepare_out_dir(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)

    # Data: one vocabulary over the whole file (as nanoGPT does), a fixed 90/10 split.
    data_path = resolve_data_path(cfg.data)
    text = read_text(data_path)
    vocab = CharVocab.build(text)
    ids = torch.tensor(vocab.encode(text), dtype=torch.long)
    train_ids, val_ids = split_train_val(ids, cfg.val_fraction)
    if len(train_ids) <= cfg.block_size + 1:
        raise PushkinLMError(
            f"{data_path} is too short: its training split has {len(train_ids)} characters but one "
            f"window needs {cfg.block_size + 2}; use a longer text or a smaller --block_size"
        )
    score_ids_of = {"train": train_ids[:TRAIN_SCORE_CHARS], "val": val_ids if len(val_ids) > 1 else None}

    model = PushkinLM(ModelConfig(vocab_size=len(vocab), **(model_settings or {})))
    optimizer = make_optimizer(model, cfg)
    batches = torch.Generator().manual_seed(cfg.seed)
    lanes = ConsecutiveWindows(train_ids, cfg.block_size, cfg.batch_size, batches) if cfg.stateful else None
    state = None
    log(
        f"data {data_path}: {len(text):,} chars, vocab {len(vocab)}, "
        f"train {len(train_ids):,} / val {len(val_ids):,}; model {model.num_params():,} params"
    )

    eval_seconds = 0.0

    def evaluate() -> dict:
        nonlocal eval_seconds
        started = time.monotonic()
        scores = {name: score_ids(model, part) for name, part in score_ids_of.items() if part is not None}
        eval_seconds += time.monotonic() - started
        return {f"{name}_nats_per_char": value for name, value in scores.items()}

    def save(name: str, step: int, metrics: dict, elapsed: float) -> None:
        meta = {
            "step": step,
            **metrics,
            "elapsed_s": round(elapsed, 1),
            "data_source": str(cfg.data) if cfg.data else "hf://datasets/abobster/pushkin_new/train.txt",
            "train_chars": len(train_ids),
            "train_config": asdict(cfg),
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "pushkin_lm_version": __version__,
        }
        save_checkpoint(out / name, model, vocab, meta)

    from tqdm import tqdm  # imported here so that sampling never pays for it

    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
    best_val, metrics, step = math.inf, {}, 0
    log_file = open(out / "log.jsonl", "w", encoding="utf-8")
    bar = tqdm(total=cfg.max_iters, disable=not cfg.progress, unit="it", dynamic_ncols=True)
    start = time.monotonic()
    model.train()
    while step < cfg.max_iters and time.monotonic() - start < budget_s:
        elapsed = time.monotonic() - start
        lr = learning_rate_at(cfg, step, max(step / cfg.max_iters, elapsed / budget_s))
        for group in optimizer.param_groups:
            group["lr"] = lr

        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            if lanes is not None:
                x, y, fresh = lanes.next()
                logits, state = model(x, None if fresh else state)
                state = state.detach()
            else:
                x, y = random_windows(train_ids, cfg.block_size, cfg.batch_size, batches)
                logits, _ = model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        if not torch.isfinite(loss):
            raise PushkinLMError(
                f"the loss became {loss.item()} at step {step}; the best checkpoint so far is "
                f"kept in {out / 'best'}; lower --learning_rate and train again"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        step += 1
        bar.update()
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.1e}")

        if step % cfg.eval_interval == 0 or step == cfg.max_iters:
            metrics = evaluate()
            best_val = _report(metrics, step, time.monotonic() - start, best_val, save, log_file, bar.write)
    if step % cfg.eval_interval and step != cfg.max_iters:  # stopped by the clock between evals
        metrics = evaluate()
        best_val = _report(metrics, step, time.monotonic() - start, best_val, save, log_file, bar.write)
    bar.close()
    log_file.close()
    elapsed = time.monotonic() - start
    log(
        f"done: {step} steps in {elapsed / 60:.1f} min; best val {best_val:.4f} nats/char "
        f"({best_val / math.log(2):.4f} bits/char); checkpoint in {out / 'best'}"
    )
    return {
        **metrics,
        "best_val_nats_per_char": best_val,
        "steps": step,
        "elapsed_s": elapsed,
        "train_seconds": elapsed - eval_seconds,  # time in training steps alone
    }


def _report(metrics: dict, step: int, elapsed: float, best_val: float, save, log_file, write) -> float:
    """Log one evaluation, save `last`, and `best` if validation improved; returns the best val."""
    val = metrics.get("val_nats_per_char", metrics["train_nats_per_char"])
    improved = val < best_val
    if improved:
        best_val = val
        save("best", step, metrics, elapsed)
    record = {"step": step, "elapsed_s": round(elapsed, 1), **metrics}
    log_file.write(json.dumps(record) + "\n")
    log_file.flush()
    parts = [
        f"{name.removesuffix('_nats_per_char')} {value:.4f} nats ({value / math.log(2):.3f} bits)"
        for name, value in metrics.items()
    ]
    write(
        f"step {step:>6} | {elapsed / 60:5.1f} min | " + " | ".join(parts) + (" | best" if improved else "")
    )
    return best_val
