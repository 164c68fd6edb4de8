"""The sampler at the limits of float32: temperatures too small or too large to divide logits by
still mean what they say (greedy, uniform), instead of NaN or an error (docs/errors.md)."""

import torch

from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.sampling.sample import sample_next


def test_temperatures_beyond_float32_take_their_limiting_meaning():
    logits = torch.tensor([float("-inf"), 0.5, 3.0, 1.0])
    assert all(sample_next(logits, SampleConfig(temperature=1e-45)) == 2 for _ in range(20))  # tiny: greedy
    drawn = {
        sample_next(logits, SampleConfig(temperature=1e39), torch.Generator().manual_seed(s))
        for s in range(200)
    }
    assert drawn == {1, 2, 3}  # huge: uniform over the allowed ids, never the masked one
    assert sample_next(logits, SampleConfig(temperature=1e39, top_k=1)) == 2
