"""`pushkin-lm train`: train a network, or continue a run exactly."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.settings import add_flag, add_flags, given
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.train.recipe import PRESETS, TrainConfig

DESCRIPTION = (
    "Train the LSTM + attention character model: by default on the Pushkin corpus (downloaded from "
    "the Hugging Face Hub) for 10 minutes, on a CUDA GPU where torch sees one, else on the CPU. "
    "Ctrl-C stops it cleanly: the last checkpoint is saved, and --resume continues exactly."
)


def flags(p: argparse.ArgumentParser) -> None:
    add_flag(p, "resume", metavar="DIR", help="continue the run saved in DIR (its last/ checkpoint) exactly")
    add_flag(p, "overwrite", action="store_true", help="replace a run already in --out")
    add_flag(
        p,
        "allow_changed_data",
        action="store_true",
        help="with --resume: go on though --data is no longer the text the run trained on (resume is "
        "then not exact)",
    )
    add_flag(
        p,
        "preset",
        choices=sorted(PRESETS),
        help="named set of defaults that flags override: small (2 minutes, a smaller model), default "
        "(10 minutes), shipped (the shipped checkpoint's recipe: the base fine-tuned, about 20 minutes), "
        "pushkin-only (the previous shipped checkpoint's: a new network, about an hour on 2 CPU cores), "
        "finetune (learning rate 1e-4, short warmup; the default with --init_from, else default)",
    )
    add_flags(p.add_argument_group("training"), TrainConfig)
    add_flags(p.add_argument_group("model size"), ModelConfig)


def run(args: argparse.Namespace) -> None:
    from pushkin_lm.train.recipe import new_run
    from pushkin_lm.train.trainer import Trainer

    settings = given(args, TrainConfig) | given(args, ModelConfig)
    if args.resume:
        if "out" in settings and Path(settings["out"]).resolve() != Path(args.resume).resolve():
            raise PushkinLMError(
                f"--resume {args.resume} continues that run in its own folder; drop --out {settings['out']}"
            )
        trainer = Trainer.resume(args.resume, settings, allow_changed_data=args.allow_changed_data)
    else:
        if args.allow_changed_data:
            raise PushkinLMError("--allow_changed_data only goes with --resume; drop it for a new run")
        train_cfg, model_cfg = new_run(args.preset, settings)
        trainer = Trainer(train_cfg, model_cfg, overwrite=args.overwrite)
    trainer.run()
    if trainer.world.is_main:
        _draw_curves(trainer.out)


def _draw_curves(run: Path) -> None:
    """Every run ends with a picture of its curves; one that cannot be drawn is not an error."""
    from pushkin_lm.publish.plot import plot_training_curves
    from pushkin_lm.store.layout import CURVES_FILE

    try:
        print(f"curves: {plot_training_curves(run, run / CURVES_FILE)}")
    except PushkinLMError as err:
        print(f"no curves drawn: {err}", file=sys.stderr)
