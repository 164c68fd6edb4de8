"""Training: the loop, read top to bottom — step, evaluate, save.

The weights it evaluates and saves are an exponential moving average of the trained ones
(`ema_decay`), with the output temperature fitted on a calibration slice held out from the end of
the training split (`calib_fraction`). Every `eval_interval` steps it scores the whole validation
split, saves `out/best` when validation improved and `out/last` (with the trained weights,
optimizer and RNG state) always. SIGINT and SIGTERM stop it cleanly after the current step,
saving `out/last` first; `Trainer.resume` continues from there exactly. Under torchrun every
process runs this loop in step with the others; rank 0 alone logs, evaluates and saves
(distributed.py).
"""

from __future__ import annotations

import contextlib
import math
import shlex
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from pushkin_lm.core.device import resolve_device
from pushkin_lm.core.errors import PushkinLMError, TrainingInterrupted
from pushkin_lm.core.progress import Progress, describe_evaluation
from pushkin_lm.core.settings import train_command
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.data.corpus import Corpus
from pushkin_lm.data.mixture import Source, parse_sources, read_corpus
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.model.memory import require_memory, training_bytes
from pushkin_lm.model.network import Network
from pushkin_lm.model.scorer import fit_temperature, score_ids
from pushkin_lm.store.checkpoint import Checkpoint
from pushkin_lm.store.hub import CORPUS_URI, download_corpus
from pushkin_lm.store.layout import BEST, LAST
from pushkin_lm.store.run import (
    Run,
    RunLock,
    TrainerState,
    append_log,
    check_out_dir,
    load_run,
    run_meta,
    save_run,
)
from pushkin_lm.store.trainer_state import check_state
from pushkin_lm.train.distributed import World
from pushkin_lm.train.finetune import extend_vocab, grown_model, load_start, origin, starting_config
from pushkin_lm.train.learner import Learner
from pushkin_lm.train.recipe import TrainConfig, learning_rate_at, resumed_run, too_short

TRAIN_SCORE_CHARS = 50_000  # a fixed slice of the training split, scored like validation
CALIB_FIT_CHARS = 50_000  # at most this much of the calibration slice (its end) fits the temperature
# At most this much of each source's validation slice is scored: all of Pushkin's (50,829), and
# a bounded share of a 44 M-character prose source, whose full slice would take many minutes.
VAL_SCORE_CHARS = 250_000
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
        allow_changed_data: bool = False,
    ) -> None:
        self.world = World.from_env()
        self.cfg, self.out = cfg, Path(cfg.out)
        self.log = log if self.world.is_main else _quiet
        self.device = self.world.device(resolve_device(cfg.device))  # before anything is written
        self.sources = _sources(cfg.data)  # a missing text is the first thing to hear about
        check_out_dir(self.out, overwrite=overwrite, resume=run is not None)
        if cfg.threads or self.world.distributed:  # torchrun would leave each process one thread
            torch.set_num_threads(cfg.threads or self.world.threads())
        torch.manual_seed(cfg.seed)
        self.corpus, model, self.started_from = _start(self.sources, cfg, model_cfg, run, self.device)
        self.world.start(self.device)
        self.learner = Learner(model, self.corpus, cfg, self.device, self.world)
        self.data_sha256 = [source.digest() for source in self.corpus.sources]  # resume reads the same
        self.step, self.best_val, self.elapsed_before, self.eval_seconds = 0, math.inf, 0.0, 0.0
        self.last_eval_s = 0.0  # how long the latest evaluation took: the final one will take as long
        self.log_started = run is not None  # a fresh run replaces an old log, a resumed one appends
        if run:
            self._restore(run, allow_changed_data)
        self.stop_signal: str | None = None

    @classmethod
    def resume(
        cls, folder: str | Path, given: dict[str, Any], log=print, allow_changed_data: bool = False
    ) -> Trainer:
        """Continue the run saved in `folder`; of the settings `given`, only resumable ones may differ,
        and its text must be the one it trained on unless `allow_changed_data`."""
        run = load_run(folder)
        cfg = resumed_run(run.train_config, run.checkpoint.model.cfg, given, str(folder))
        return cls(cfg, run.checkpoint.model.cfg, log=log, run=run, allow_changed_data=allow_changed_data)

    # ------------------------------------------------------------------ the loop

    def run(self, stop_at: int | None = None) -> dict:
        """Train until max_iters, the time budget, a signal, or step `stop_at`; returns final metrics."""
        cfg = self.cfg
        budget_s = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        self.log(self._describe())
        progress = Progress(cfg.progress and self.world.is_main, self.log)  # the others' log is quiet
        self.write = progress.write
        start = time.monotonic() - self.elapsed_before
        metrics: dict = {}
        lock = RunLock(self.out) if self.world.is_main else contextlib.nullcontext()
        # torchrun passes a Ctrl-C on to its processes, so each gets it twice: not a second request
        signals = _StopOnSignals(self, repeat_stops_now=not self.world.distributed)
        with lock, signals, self.world:
            while self.step < cfg.max_iters:
                elapsed, stopping = self.world.agree(time.monotonic() - start, bool(self.stop_signal))
                if stopping or elapsed >= budget_s:
                    if stopping and not self.stop_signal:
                        self.stop_signal = "a signal to another process"
                    break
                done = max(self.step / cfg.max_iters, elapsed / budget_s)
                lr = learning_rate_at(cfg, self.step, done)
                loss = self._train_step(lr)
                # The bar counts the final evaluation into a time budget, which it runs past.
                shown = max(self.step / cfg.max_iters, elapsed / (budget_s + self.last_eval_s))
                progress.update(shown, self.step, loss, lr, self._epochs())
                if self.step % cfg.eval_interval == 0 or self.step == cfg.max_iters:
                    progress.evaluating(self.step, final=self.step == cfg.max_iters)
                    metrics = self._checkpoint(time.monotonic() - start)
                if self.step == stop_at:
                    break
            if metrics.get("step") != self.step:  # stopped between evaluations
                progress.evaluating(self.step, final=True)
                metrics = self._checkpoint(time.monotonic() - start)
            progress.close()
        return self._finish(metrics, time.monotonic() - start)

    def _resume_command(self) -> str:
        """What continues this run, typed where it was started: the same program (under the same
        torchrun), the folder quoted for the shell (a path with a space)."""
        launcher = self.world.launcher() if self.world.distributed else None
        return train_command(f"--resume {shlex.quote(str(self.out))}", launcher)

    def _finish(self, metrics: dict, elapsed: float) -> dict:
        """Say how the run ended (a stop is an error naming how to continue) and sum it up."""
        if self.stop_signal and self.world.is_main:
            raise TrainingInterrupted(
                f"stopped by {self.stop_signal} at step {self.step}; saved {self.out / 'last'}; "
                f"continue with: {self._resume_command()}"
            )
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

    def _describe(self) -> str:
        where = f"{self.device}"
        if self.world.distributed:
            threads = torch.get_num_threads()
            where += f" x {self.world.size} processes, {threads} thread{'s' * (threads > 1)} each"
        return (
            f"data {self.cfg.data and _data_source(self.cfg.data) or self.sources[0].files[0]}: "
            f"{self.corpus.describe()}; "
            f"model {self.learner.model.num_params():,} params on {where}"
            + (f"; resuming at step {self.step}" if self.step else "")
        )

    def _epochs(self) -> str:
        """Passes over the training split so far: one figure, or one per source of a mixture."""
        read = self.step * self.cfg.block_size  # characters of each row
        rows = self.learner.random_rows  # each source's rows, of all processes
        passes = [read * n / len(s.train) for s, n in zip(self.corpus.sources, rows, strict=True)]
        if not self.corpus.mixed:
            return f"{passes[0]:.2f}"
        return " ".join(f"{s.name} {p:.2f}" for s, p in zip(self.corpus.sources, passes, strict=True))

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
        calibrated nats/char on the validation split and a fixed slice of the training split.

        A mixture takes each source's share of the calibration and training slices, scores each
        source's validation slice apart (`val_by_source`), and its validation score is their
        mean weighted by the sources' shares: the loss of the mixture it trains on."""
        model, sources = self.learner.saved_model, self.corpus.sources
        calib = torch.cat([s.calib[-max(1, round(CALIB_FIT_CHARS * s.weight)) :] for s in sources])
        temperature = fit_temperature(model, calib) if len(calib) > 1 else 1.0
        train = torch.cat([s.train[: max(1, round(TRAIN_SCORE_CHARS * s.weight))] for s in sources])
        scores = {"train_nats_per_char": score_ids(model, train, temperature)} if len(train) > 1 else {}
        by_source = {
            s.name: score_ids(model, s.val[:VAL_SCORE_CHARS], temperature) for s in sources if len(s.val) > 1
        }
        if by_source:
            shares = {s.name: s.weight for s in sources if s.name in by_source}
            total = sum(shares.values())
            scores["val_nats_per_char"] = sum(by_source[n] * w / total for n, w in shares.items())
        if self.corpus.mixed:
            scores["val_by_source"] = by_source
        return {**scores, "temperature": temperature}

    def _checkpoint(self, elapsed: float) -> dict:
        """Evaluate and save (rank 0); every process takes part, since the state gathers their rows."""
        counters = {"step": self.step, "elapsed_s": round(elapsed, 1)}
        state = self.learner.state(
            **counters, best_val=self.best_val, eval_seconds=self.eval_seconds, data_sha256=self.data_sha256
        )
        if not self.world.is_main:
            return counters
        trained_s = round(elapsed - self.eval_seconds, 3)  # time in training steps alone
        started = time.monotonic()
        metrics = {**counters, "train_s": trained_s, **self.evaluate()}
        self.last_eval_s = time.monotonic() - started
        self.eval_seconds += self.last_eval_s
        val = metrics.get("val_nats_per_char", metrics["train_nats_per_char"])
        improved = val < self.best_val
        if improved:
            self.best_val = val
            self._save(BEST, metrics)
        # The clock saved runs to the end of this evaluation, which eval_seconds now counts: a resumed
        # run's train_s goes on from here, never back.
        saved = replace(
            state,
            elapsed_s=elapsed + self.last_eval_s,
            best_val=self.best_val,
            eval_seconds=self.eval_seconds,
        )
        self._save(LAST, metrics, saved)
        append_log(self.out, metrics, fresh=not self.log_started)
        self.log_started = True
        self.write(describe_evaluation(metrics, elapsed, improved))
        return metrics

    def _save(self, name: str, metrics: dict, state: TrainerState | None = None) -> None:
        source = _data_source(self.cfg.data)
        meta = run_meta(metrics, self.best_val, self.cfg.to_json(), source, len(self.corpus.train))
        meta["processes"] = self.world.size
        if self.started_from:
            meta["started_from"] = self.started_from
        save_run(
            self.out / name, self.learner.saved_model, self.corpus.vocab, metrics["temperature"], meta, state
        )

    def _restore(self, run: Run, allow_changed_data: bool) -> None:
        state = run.state
        check_state(state, self.learner.expected(), run.checkpoint.path)
        if not allow_changed_data:
            self._check_same_data(state.data_sha256)
        try:
            self.learner.restore(state)
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise PushkinLMError(
                f"the trainer state in {self.out / 'last'} is damaged ({type(err).__name__}: {err}); "
                "start a new run with --overwrite"
            ) from None
        self.step, self.best_val = state.step, state.best_val
        self.elapsed_before, self.eval_seconds = state.elapsed_s, state.eval_seconds

    def _check_same_data(self, saved: list[str] | None) -> None:
        """Refuse to continue on another text than the run trained on (runs saved before digests
        were kept have none to compare)."""
        if saved is None or saved == self.data_sha256:
            return
        changed = [s.name for s, d in zip(self.corpus.sources, saved, strict=False) if s.digest() != d]
        what = _data_source(self.cfg.data) if not self.corpus.mixed else f"data source {changed[0]}"
        if len(saved) != len(self.data_sha256):
            what = f"a mixture of {len(self.data_sha256)} sources (the run read {len(saved)})"
        raise PushkinLMError(
            f"{what} is not the text the run in {self.out} trained on (its sha256 differs), so resume "
            "would not be exact; resume with the same --data, or pass --allow_changed_data to go on with this"
        )


def _sources(data: str | list[str] | None) -> list[Source]:
    """What `--data` names: its sources, or the Pushkin corpus from the Hub."""
    if data is None:
        return [Source("train", (download_corpus(),))]
    return parse_sources(data)


def _data_source(data: str | list[str] | None) -> str:
    """What a run's metadata and log say it trained on."""
    if data is None:
        return CORPUS_URI
    return data if isinstance(data, str) else " ".join(data)


def _start(
    sources: list[Source], cfg: TrainConfig, model_cfg: ModelConfig, run: Run | None, device: torch.device
) -> tuple[Corpus, Network, dict | None]:
    """The text prepared for training and the network that starts on it: a new one, a saved run's,
    or a checkpoint's (`--init_from`, grown to the text's new characters; then also where it started)."""
    start = load_start(cfg.init_from) if cfg.init_from and not run else None
    corpus = read_corpus(
        sources, cfg.val_fraction, cfg.calib_fraction, lambda own, _: _vocab(own, cfg.data, run, start)
    )
    _check_length(corpus, cfg)
    model_cfg = replace(model_cfg, vocab_size=len(corpus.vocab))
    require_memory(training_bytes(model_cfg, cfg.batch_size, cfg.block_size), device, *TOO_BIG)
    if run:
        return corpus, run.checkpoint.model, run.checkpoint.meta.get("started_from")
    if start:
        return corpus, grown_model(start, model_cfg), origin(cfg.init_from, start, corpus.vocab)
    return corpus, Network(model_cfg), None


def _vocab(
    own: CharVocab, data: str | list[str] | None, run: Run | None, start: Checkpoint | None
) -> CharVocab:
    """The run's vocabulary: the text's own; a fine-tuning run's start's, extended by the text's; a
    resumed run's saved one, refused if the text's characters changed."""
    if start is not None:
        return extend_vocab(start.vocab, "".join(own.chars[1:]))
    if run is None:
        return own
    saved, fine_tuned = run.checkpoint.vocab, "started_from" in run.checkpoint.meta
    if set(own.chars) - set(saved.chars) or (not fine_tuned and own != saved):
        raise PushkinLMError(
            f"{_data_source(data)} has other characters than the text {run.checkpoint.path} was trained on "
            f"({len(saved) - 1} distinct there, {len(own) - 1} here); resume with the same --data"
        )
    return saved


def _check_length(corpus: Corpus, cfg: TrainConfig) -> None:
    """Every source's training split holds at least one window."""
    for source in corpus.sources:
        if len(source.train) <= cfg.block_size + 1:
            where = _data_source(cfg.data) if not corpus.mixed else f"data source {source.name}"
            chars = len(source.train) + len(source.calib) + len(source.val)
            raise PushkinLMError(too_short(where, len(source.train), chars, cfg))


def _quiet(*args: Any, **kwargs: Any) -> None:
    """The log of every process but rank 0."""


class _StopOnSignals:
    """Turn the first SIGINT/SIGTERM into a request to stop after the current step."""

    def __init__(self, trainer: Trainer, repeat_stops_now: bool) -> None:
        self.trainer, self.repeat_stops_now = trainer, repeat_stops_now

    def _handle(self, signum, frame) -> None:
        if self.trainer.stop_signal:
            if self.repeat_stops_now:  # a second signal: stop now
                raise KeyboardInterrupt
            return
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
    """Train a model as `cfg` and `model_cfg` say (by default: a new default network, or with
    `cfg.init_from` the checkpoint's own); returns the final metrics."""
    if model_cfg is None:
        model_cfg = starting_config(cfg.init_from, {}) if cfg.init_from else ModelConfig()
    return Trainer(cfg, model_cfg, log=log, overwrite=overwrite).run()
