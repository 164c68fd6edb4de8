"""The training recipe: its settings, named presets, what a resumed run may change, and the
learning-rate schedule. No torch here, so that `pushkin-lm train --help` is instant."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pushkin_lm.core.device import DEVICES, usable_cores
from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import MAX_SEED, check, require_path, setting
from pushkin_lm.model.config import ModelConfig


@dataclass
class TrainConfig:
    data: str | list[str] | None = setting(
        None, "what to train on: a text file, a folder holding train.txt, or a mixture of sources, each "
        "a file or a folder of .txt files, with an optional weight: verse:3 prose:1 reads each verse "
        "character 3 times for each prose one (default: the Pushkin corpus from the Hub)", many=True,
    )  # fmt: skip
    out: str = setting("out", "run folder: checkpoints best/ and last/, log.jsonl")
    init_from: str | None = setting(
        None, "start from this checkpoint's weights (a folder, a run's --out, a Hub owner/name, or base: "
        "the shipped model of Russian verse) with a fresh optimizer and schedule, and train its network; "
        "none: a new network (unset: base, unless --preset or a network setting is given)",
    )  # fmt: skip
    val_fraction: float = setting(0.1, "share of the text, at its end, that validates", minimum=0, below=1)
    calib_fraction: float = setting(
        0.05, "share of the training split, at its end, held out to fit the output temperature; 0 = none",
        minimum=0, below=1,
    )  # fmt: skip
    batch_size: int = setting(32, "parallel rows of text per step", minimum=1)
    block_size: int = setting(128, "characters per training window", minimum=1)
    max_iters: int = setting(100_000, "stop after this many steps", minimum=1)
    max_minutes: float | None = setting(10.0, "stop after so many minutes; the schedule spans them", above=0)
    learning_rate: float = setting(2e-3, "peak learning rate of AdamW", above=0)
    min_lr: float = setting(1e-4, "learning rate at the end of the cosine decay", minimum=0)
    warmup_iters: int = setting(100, "steps of linear warmup", minimum=0)
    weight_decay: float = setting(0.1, "AdamW weight decay of the weight matrices", minimum=0)
    grad_clip: float = setting(1.0, "largest gradient norm", above=0)
    ema_decay: float = setting(
        0.99, "evaluate and save a moving average of the weights, about 1/(1 - decay) steps long; 0 = off",
        minimum=0, below=1,
    )  # fmt: skip
    eval_interval: int = setting(250, "steps between validation runs", minimum=1)
    bf16: bool | None = setting(None, "bfloat16 autocast in training (unset: where the CPU has it natively)")
    stateful: bool = setting(
        True, "carry LSTM state and attention cache across consecutive windows; --no_stateful: random windows"
    )
    seed: int = setting(1337, "random seed for initialisation and batches", minimum=0, maximum=MAX_SEED)
    threads: int | None = setting(None, "CPU threads for torch (default: torch's choice)", minimum=1)
    device: str = setting("auto", "where to train: auto is CUDA, then MPS, then the CPU", choices=DEVICES)
    progress: bool = setting(True, "a progress bar on a terminal, plain progress lines elsewhere")

    def __post_init__(self) -> None:
        check(self)
        require_path("out", self.out)
        for value in [self.data] if isinstance(self.data, str) else self.data or []:
            require_path("data", value)
        if self.init_from is not None:
            require_path("init_from", self.init_from)
        if self.min_lr > self.learning_rate:
            raise PushkinLMError(f"min_lr {self.min_lr} must not exceed learning_rate {self.learning_rate}")
        if self.threads is not None and self.threads > usable_cores():
            raise PushkinLMError(
                f"threads must be from 1 to the {usable_cores()} CPU cores this process may use, "
                f"got {self.threads}; more threads than cores makes every step many times slower"
            )

    def to_json(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    # A couple of minutes on 2 CPU cores: for trying things out and for tests.
    "small": {"hidden_size": 256, "num_layers": 1, "embed_dim": 64, "max_minutes": 2.0, "eval_interval": 100},
    "default": {},
    # The recipe of the shipped checkpoint: the base fine-tuned on Pushkin, about 20 minutes on
    # one thread; a peak of 3e-4, not 1e-4, for a whole corpus to learn. The schedule counts
    # steps, so a slower machine trains the same model, only later (docs/results.md).
    "shipped": {
        "init_from": "base",
        "learning_rate": 3e-4,
        "min_lr": 3e-5,
        "warmup_iters": 50,
        "max_iters": 1200,
        "max_minutes": 100000.0,
        "eval_interval": 200,
    },
    # The previous shipped checkpoint's: Pushkin alone, a new network, about an hour on 2 CPU cores.
    "pushkin-only": {"embed_dropout": 0.1, "max_iters": 8000, "max_minutes": 150.0, "eval_interval": 500},
    # Fine-tuning (--init_from picks it unless --preset is given): a trained network needs small
    # steps at once, not a long warmup to 2e-3, which undoes what it knew (docs/results.md).
    "finetune": {"learning_rate": 1e-4, "min_lr": 1e-5, "warmup_iters": 10, "eval_interval": 50},
}

# What a resumed run may change: these leave the recipe alone (device and threads change only
# floating-point rounding; another --data must hold the same characters).
RESUMABLE = ("max_iters", "max_minutes", "eval_interval", "threads", "data", "device", "progress")


# Where a new run starts when neither --init_from, a --preset nor a network setting says: the
# shipped base model of Russian verse. In ten minutes on a CPU it takes a text further than
# training from scratch does, on Pushkin and on verse it never read (docs/results.md, part 11).
DEFAULT_START = "base"
SCRATCH = "none"  # --init_from none: a new network


def new_run(preset: str | None, given: dict[str, Any]) -> tuple[TrainConfig, ModelConfig]:
    """The settings of a new run: the preset's (by default `finetune` when it starts from a
    checkpoint, else `default`), overridden by those given. A fine-tuning run trains its
    checkpoint's network; a run given no start, preset or network starts from DEFAULT_START."""
    network = {f.name for f in fields(ModelConfig)}
    if "init_from" not in given and preset is None and not network & given.keys():
        given = {**given, "init_from": DEFAULT_START}
    if given.get("init_from") == SCRATCH:
        given = {**given, "init_from": None}
    preset = preset or ("finetune" if given.get("init_from") else "default")
    chosen = {**PRESETS[preset], **given}
    train_cfg = _pick(TrainConfig, chosen)
    if train_cfg.init_from:
        from pushkin_lm.train.finetune import starting_config

        shape = {k: v for k, v in given.items() if k in network}
        return train_cfg, starting_config(train_cfg.init_from, shape)
    return train_cfg, _pick(ModelConfig, chosen)


def resumed_run(saved: dict[str, Any], model: ModelConfig, given: dict[str, Any], folder: str) -> TrainConfig:
    """The settings a resumed run continues with: the saved ones, with only RESUMABLE ones changed,
    in `folder`, where it is now (whatever --out it was started with: a moved run, or one started
    with --out '' before that was refused)."""
    for name, value in given.items():
        if hasattr(model, name) and getattr(model, name) != value:
            raise PushkinLMError(
                f"the run was trained with other model settings ({name}: {getattr(model, name)} there, "
                f"{value} now); resume without changing model-size flags, or start a new run with --overwrite"
            )
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in names} | {"out": folder})
    changed = [k for k in names if k in given and k not in RESUMABLE and given[k] != getattr(cfg, k)]
    if changed:
        raise PushkinLMError(
            f"--{changed[0]} cannot change when resuming; drop it, or start a new run with --overwrite"
        )
    return replace(cfg, **{k: v for k, v in given.items() if k in RESUMABLE})


def too_short(where: str, train_chars: int, chars: int, cfg: TrainConfig) -> str:
    """Why a text's training split holds no window: the text, or the shares held out of it, where
    the default shares would have left one (--val_fraction 0.999 of a text that is long enough)."""
    needs, got = cfg.block_size + 2, f"{train_chars:,} character{'s' * (train_chars != 1)}"
    shares = {f.name: f.default for f in fields(TrainConfig) if f.name in ("val_fraction", "calib_fraction")}
    raised = [name for name, default in shares.items() if getattr(cfg, name) > default]
    if raised and int(chars * (1 - shares["val_fraction"]) * (1 - shares["calib_fraction"])) >= needs:
        given = " and ".join(f"--{name} {getattr(cfg, name):g}" for name in raised)
        return (
            f"{given} leave{'s' * (len(raised) == 1)} the training split of {where} {got} of its "
            f"{chars:,}, and one window needs {needs}; lower {' and '.join(f'--{n}' for n in raised)}"
        )
    return f"{where} is too short: its training split has {got} but one window needs {needs}; " + (
        "use a longer text or a smaller --block_size"
    )


def _pick(cls: type, values: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def learning_rate_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warmup over `warmup_iters` steps, then cosine decay to `min_lr` as progress -> 1."""
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / cfg.warmup_iters
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.min_lr + cosine * (cfg.learning_rate - cfg.min_lr)
