"""Training: the loop, read top to bottom — step, evaluate, save.

The weights it evaluates and saves are an exponential moving average of the trained ones
(`ema_decay`), with the output temperature fitted on a calibration slice held out from the end of
the training split (`calib_fraction`). Every `eval_interval` steps it scores the whole validation
split, saves `out/best` when validation improved and `out/last` (with the trained weights,
optimizer and RNG state) always. SIGINT and SIGTERM stop it cleanly after the current step,
saving `out/last` first; `Trainer.resume` continues from there exactly.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .data import prepare, read_text, resolve_data_path
from .device import resolve_device
from .errors import PushkinLMError, TrainingInterrupted
from .evaluate import fit_temperature, score_ids
from .learner import Learner
from .memory import require_memory, training_bytes
from .model import ModelConfig, PushkinLM
from .progress import Progress, describe_evaluation
from .recipe import TrainConfig, learning_rate_at, resumed_run
from .run import Run, RunLock, TrainerState, append_log, check_out_dir, load_run, run_meta, save_run

TRAIN_SCORE_CHARS = 50_000  # a fixed slice of the training split, scored like validation
CALIB_FIT_CHARS = 50_000  # at most this much of the calibration slice (its end) fits the temperature
HUB_SOURCE = "hf://datasets/abobster/pushkin_new/train.txt"
TOO_BIG = (
    "training this network with this batch",
    "use a smaller --hidden_size, --num_layers, --attn_window, --batch_size or --block_size",
)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model_cfg: ModelConfig,
        *,
        overwrite: bool = False,
        log=print,
        run: Run | None = None,
    ) -> None:
        self.cfg, self.log, self.out = cfg, log, Path(cfg.out)
        self.device = resolve_device(cfg.device)  # before anything is written
        check_out_dir(self.out, overwrite=overwrite, resume=run is not None)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.data_path = resolve_data_path(cfg.data)
        self.corpus = _corpus(self.data_path, cfg, run)
        model_cfg = replace(model_cfg, vocab_size=len(self.corpus.vocab))
        require_memory(training_bytes(model_cfg, cfg.batch_size, cfg.block_size), self.device, *TOO_BIG)
        self.learner = Learner(
            run.checkpoint.model if run else PushkinLM(model_cfg), self.corpus, cfg, self.device
        )
        self.step, self.best_val, self.elapsed_before, self.eval_seconds = 0, math.inf, 0.0, 0.0
        self.log_started = run is not None  # a fresh run replaces an old log, a resumed one appends
        if run:
            self._restore(run.state)
        self.stop_signal: str | None = None

    @classmethod
    def resume(cls, folder: str | Path, given: dict[str, Any], log=print) -> Trainer:
        """Continue the run saved in `folder`; of the settings `given`, only resumable ones may differ."""
        run = load_run(folder)
        cfg = replace(resumed_run(run.train_config, run.checkpoint.model.cfg, given), out=str(folder))
        return cls(cfg, run.checkpoint.model.cfg, log=log, run=run)

    # ------------------------------------------------------------------ the loop

    def run(self, stop_at: int | None = None) -> dict:
        """Train until max_iters, the time budget, a signal, or step `stop_at`; returns final metrics."""
        cfg = self.cfg
        budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        self.log(
            f"data {self.data_path}: {self.corpus.describe()}; "
            f"model {self.learner.model.num_params():,} params on {self.device}"
            + (f"; resuming at step {self.step}" if self.step else "")
        )
        progress = Progress(cfg.progress, self.log)
        self.write = progress.write
        start = time.monotonic() - self.elapsed_before
        metrics: dict = {}
        with RunLock(self.out), _StopOnSignals(self):
            while self.step < cfg.max_iters and time.monotonic() - start < budget_s:
                done = max(self.step / cfg.max_iters, (time.monotonic() - start) / budget_s)
                lr = learning_rate_at(cfg, self.step, done)
                loss = self._train_step(lr)
                progress.update(done, self.step, loss, lr)
                if self.step % cfg.eval_interval == 0 or self.step == cfg.max_iters:
                    metrics = self._evaluate_and_save(time.monotonic() - start)
                if self.stop_signal or self.step == stop_at:
                    break
            if metrics.get("step") != self.step:  # stopped between evaluations
                metrics = self._evaluate_and_save(time.monotonic() - start)
            progress.close()
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
        try:
            loss = self.learner.step(lr)
        except PushkinLMError as err:
            raise PushkinLMError(
                f"{err} at step {self.step}; the last good checkpoints are kept in {self.out}; "
                "lower --learning_rate and train again"
            ) from None
        self.step += 1
        return loss

    # ------------------------------------------------------------------ evaluation and checkpoints

    def evaluate(self) -> dict:
        """The saved weights' temperature, fitted on the held-out calibration slice, and their
        calibrated nats/char on the whole validation split and a fixed slice of the training split."""
        model, corpus = self.learner.saved_model, self.corpus
        temperature = (
            fit_temperature(model, corpus.calib[-CALIB_FIT_CHARS:]) if len(corpus.calib) > 1 else 1.0
        )
        parts = {"train": corpus.train[:TRAIN_SCORE_CHARS], "val": corpus.val}
        scores = {
            f"{k}_nats_per_char": score_ids(model, ids, temperature)
            for k, ids in parts.items()
            if len(ids) > 1
        }
        return {**scores, "temperature": temperature}

    def _evaluate_and_save(self, elapsed: float) -> dict:
        started = time.monotonic()
        metrics = {"step": self.step, "elapsed_s": round(elapsed, 1), **self.evaluate()}
        self.eval_seconds += time.monotonic() - started
        val = metrics.get("val_nats_per_char", metrics["train_nats_per_char"])
        improved = val < self.best_val
        if improved:
            self.best_val = val
            self._save("best", metrics)
        counters = {"step": self.step, "best_val": self.best_val, "eval_seconds": self.eval_seconds}
        self._save("last", metrics, self.learner.state(**counters, elapsed_s=metrics["elapsed_s"]))
        append_log(self.out, metrics, fresh=not self.log_started)
        self.log_started = True
        self.write(describe_evaluation(metrics, elapsed, improved))
        return metrics

    def _save(self, name: str, metrics: dict, state: TrainerState | None = None) -> None:
        source = str(self.cfg.data) if self.cfg.data else HUB_SOURCE
        meta = run_meta(metrics, self.best_val, self.cfg.to_json(), source, len(self.corpus.train))
        save_run(
            self.out / name, self.learner.saved_model, self.corpus.vocab, metrics["temperature"], meta, state
        )

    def _restore(self, state: TrainerState) -> None:
        try:
            self.learner.restore(state)
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise PushkinLMError(
                f"the trainer state in {self.out / 'last'} is damaged ({type(err).__name__}: {err}); "
                "start a new run with --overwrite"
            ) from None
        self.step, self.best_val = state.step, state.best_val
        self.elapsed_before, self.eval_seconds = state.elapsed_s, state.eval_seconds


def _corpus(path: Path, cfg: TrainConfig, run: Run | None):
    """The text prepared for training, refused if too short, or (resuming) if its characters changed."""
    corpus = prepare(read_text(path), cfg.val_fraction, cfg.calib_fraction)
    if run and run.checkpoint.vocab != corpus.vocab:  # another text also changes the model's vocab_size
        raise PushkinLMError(
            f"{path} has other characters than the text {run.checkpoint.path} was trained on "
            f"({len(run.checkpoint.vocab) - 1} distinct there, {len(corpus.vocab) - 1} here); "
            "resume with the same --data"
        )
    if len(corpus.train) <= cfg.block_size + 1:
        raise PushkinLMError(
            f"{path} is too short: its training split has {len(corpus.train)} characters "
            f"but one window needs {cfg.block_size + 2}; use a longer text or a smaller --block_size"
        )
    return corpus


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


def train(cfg: TrainConfig, model_cfg: ModelConfig | None = None, log=print, overwrite: bool = False) -> dict:
    """Train a model as `cfg` and `model_cfg` say; returns the final metrics."""
    return Trainer(cfg, model_cfg or ModelConfig(), log=log, overwrite=overwrite).run()
