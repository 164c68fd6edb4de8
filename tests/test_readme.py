"""README's samples still come out of the commands beside them (docs/readme_samples.py writes them)."""

import importlib.util
import sys

import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location("readme_samples", ROOT / "docs" / "readme_samples.py")
readme_samples = sys.modules["readme_samples"] = importlib.util.module_from_spec(spec)  # for its dataclass
spec.loader.exec_module(readme_samples)

SAMPLES = readme_samples.samples(readme_samples.README.read_text(encoding="utf-8"))


def test_readme_marks_its_samples():
    commands = [sample.command for sample in SAMPLES]
    assert len(commands) >= 5 and "python code/generate.py --form onegin --seed 7" in commands


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[sample.command for sample in SAMPLES])
def test_a_readme_sample_comes_out_of_its_command(index):
    previous = SAMPLES[index - 1].text if index else None  # README's own block above, checked on its own
    sample = SAMPLES[index]
    assert readme_samples.run(sample.command, previous) == sample.text, (
        f"README's sample of {sample.command!r} is stale: run python docs/readme_samples.py"
    )
