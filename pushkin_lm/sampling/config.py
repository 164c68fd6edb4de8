"""The sampler's settings, each with its default, help and range: the flags of `generate` and the
demo page's controls come from them. Apart from the sampler so that `--help` needs no torch."""

from __future__ import annotations

from dataclasses import dataclass

from pushkin_lm.core.settings import MAX_SEED, check, setting


@dataclass
class SampleConfig:
    max_tokens: int = setting(500, "new characters to write", minimum=0)
    temperature: float = setting(
        0.8, "divides the network's logits (not its calibration): 0 is greedy; higher is wilder", minimum=0
    )
    top_k: int | None = setting(
        None, "sample only from the k most likely characters (unset: all of them)", minimum=1
    )
    top_p: float | None = setting(
        None,
        "sample only from the smallest set with this much probability (unset: 1, all)",
        above=0,
        maximum=1,
    )
    seed: int | None = setting(
        None,
        "random seed: the same seed gives the same text (unset: a new one each time)",
        minimum=0,
        maximum=MAX_SEED,
    )

    def __post_init__(self) -> None:
        check(self)
