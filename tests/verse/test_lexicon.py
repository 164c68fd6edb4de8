"""The stress lexicon (verse/lexicon.txt.xz): the model's own answers, read without torch.

scripts/stress_lexicon.py writes it from text the shipped models generate; `stress` looks a word up
there before it asks silero-stress, so a stanza of known words scans without importing torch.
"""

from __future__ import annotations

import importlib.util
import json
import lzma
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pushkin_lm.verse import stress
from pushkin_lm.verse.stress import (
    LEXICON,
    _answer,
    lexicon_entry,
    looked_up,
    model_stresses,
    read_lexicon,
    vowel_count,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "stress_lexicon.py"


@pytest.fixture(scope="module")
def lexicon() -> dict[str, str]:
    assert LEXICON.is_file(), "run scripts/stress_lexicon.py"
    return read_lexicon(LEXICON)


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("stress_lexicon", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lexicon_gives_what_the_model_gives(lexicon):
    # A sample, a few homographs and words with alternatives among it: a lexicon written by an
    # older model or an older ALTERNATIVE_MIN fails here (then rerun scripts/stress_lexicon.py).
    several = sorted(w for w, code in lexicon.items() if len(code.rstrip("ё")) > 1)
    words = random.Random(0).sample(sorted(lexicon), 300) + random.Random(1).sample(several, 100)
    assert [_answer(lexicon[w]) for w in words] == model_stresses(words)


def test_lexicon_file_is_small_sorted_and_well_formed():
    data = LEXICON.read_bytes()
    assert len(data) < 2_000_000
    lines = lzma.decompress(data).decode("utf-8").split("\n")
    assert lines[-1] == "" and lines[:-1] == sorted(set(lines[:-1])), "one line a word, sorted"
    for line in lines[:-1]:
        word, _, code = line.partition(" ")
        options, _ = _answer(code)
        assert looked_up(word) == {word}, line  # a word that no rule settles
        assert len(set(options)) == len(options) and all(i < vowel_count(word) for i in options), line
        assert lexicon_entry(word, options, code.endswith("ё")) == line


def test_script_writes_the_same_bytes_for_the_same_words(script, tmp_path):
    words = ["дядя", "глаза", "замок", "честных", "облаково", "темной", "правил"]
    first, second = tmp_path / "a.txt.xz", tmp_path / "b.txt.xz"
    script.write(script.lexicon_lines(words), first)
    script.write(script.lexicon_lines(reversed(words * 2)), second)
    assert first.read_bytes() == second.read_bytes()
    read = read_lexicon(first)
    assert list(read) == sorted(words)
    assert [_answer(read[w]) for w in words] == model_stresses(words)


def test_entry_round_trip_and_single_digits():
    assert lexicon_entry("глаза", (0, 1), False) == "глаза 01"
    assert lexicon_entry("темной", (0,), True) == "темной 0ё"
    assert lexicon_entry("ммм", (), False) == "ммм"
    assert _answer("0ё") == ((0,), True) and _answer("") == ((), False)
    with pytest.raises(ValueError):
        lexicon_entry("слово", (10,), False)


def test_looked_up_words_are_those_no_rule_settles():
    text = "Мой дядя самых че́стных правил, ёлка-то, Что-нибудь в шутку"
    assert looked_up(text) == {"дядя", "самых", "честных", "правил", "нибудь", "шутку"}


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_stanza_of_lexicon_words_scans_without_torch(lexicon):
    # Lines of lexicon words (and words the rules settle): scan loads neither torch nor silero.
    words = random.Random(2).sample(sorted(lexicon), 16)
    text = "\n".join(" ".join(["и", *words[i : i + 4]]) for i in range(0, 16, 4))
    code = (
        "import sys, json\n"
        "from pushkin_lm.cli.main import main\n"
        f"assert main(['scan', '--json', '--text', {text!r}]) == 0\n"
        "from pushkin_lm.verse import model_load_seconds\n"
        "print(json.dumps([m in sys.modules for m in ('torch', 'silero_stress')] + [model_load_seconds()]))"
    )
    assert json.loads(_run(code)) == [False, False, None]


def test_a_word_outside_the_lexicon_still_goes_to_the_model(lexicon):
    assert "зюзюкала" not in lexicon
    code = (
        "import sys\n"
        "from pushkin_lm.verse import model_load_seconds, word_stress\n"
        "print(word_stress('зюзюкала') is not None, model_load_seconds() > 0, 'torch' in sys.modules)"
    )
    assert _run(code) == "True True True"


def test_model_load_reads_silero_as_its_own_loader_does():
    # The faster load (phrase patterns left uncompiled) gives the same accentor and homographs.
    import torch

    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    try:  # silero's import and load set one thread and no autograd for the whole process
        from silero_stress import load_accentor

        theirs = load_accentor("ru")
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
    ours = stress._load_model()
    words = ["дядя", "глаза", "замок", "стоит", "облаково", "темной", "руки", "занемог"]
    assert ours.homographs == theirs.homosolver.homodict
    assert ours.accentor(" ".join(words)) == theirs.accentor(" ".join(words))
    preds = zip(ours.accentor._get_model_preds(words), theirs.accentor._get_model_preds(words), strict=True)
    assert all(torch.equal(a, b) for a, b in preds)
