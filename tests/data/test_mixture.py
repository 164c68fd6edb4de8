"""Corpus mixtures: `--data` with several weighted sources (mixture.py, data.MixtureWindows)."""

from pathlib import Path

import pytest
import torch
from badinput import check_case
from conftest import ROOT, TINY_MODEL, make_verse, tiny_run_config

from pushkin_lm.core.errors import PushkinLMError
from pushkin_lm.core.vocab import PUSHKIN_CHARS, UNKNOWN
from pushkin_lm.data.corpus import MixtureWindows, prepare, row_counts
from pushkin_lm.data import mixture
from pushkin_lm.data.mixture import parse_sources, read_corpus
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.train.trainer import Trainer

PUSHKIN = ROOT.parent / "shared/data/pushkin_new/train.txt"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """verse/ (two files) and prose.txt; prose has a character seen once, ☃."""
    (tmp_path / "verse").mkdir()
    (tmp_path / "verse/a.txt").write_text(make_verse(), encoding="utf-8")
    (tmp_path / "verse/b.txt").write_text(make_verse()[::-1], encoding="utf-8")
    (tmp_path / "prose.txt").write_text("Проза идёт сплошным текстом. " * 400 + "☃", encoding="utf-8")
    return tmp_path


def test_weights_default_to_one_and_a_folder_is_its_txt_files(sources):
    verse, prose = parse_sources([f"{sources}/verse:3", f"{sources}/prose.txt"])
    assert (verse.name, verse.weight, [p.name for p in verse.files]) == ("verse", 3.0, ["a.txt", "b.txt"])
    assert (prose.name, prose.weight, prose.files) == ("prose", 1.0, (sources / "prose.txt",))


def test_a_folder_holding_train_txt_is_that_file_alone(sources):
    (sources / "verse/train.txt").write_text("текст", encoding="utf-8")
    (source,) = parse_sources(f"{sources}/verse")
    assert source.files == (sources / "verse/train.txt",)


def test_one_file_reads_exactly_as_one_text_always_did(verse_file):
    corpus = read_corpus(parse_sources(str(verse_file)), 0.1, 0.05)
    before = prepare(verse_file.read_text(encoding="utf-8"), 0.1, 0.05)
    assert corpus.vocab == before.vocab
    for name in ("train", "calib", "val"):
        assert torch.equal(getattr(corpus, name), getattr(before, name))


def test_a_mixture_holds_out_validation_from_every_file_and_stores_ids_in_a_byte(sources):
    corpus = read_corpus(parse_sources([f"{sources}/verse:3", f"{sources}/prose.txt"]), 0.1, 0.05)
    verse, prose = corpus.sources
    file_lengths = [len(make_verse())] * 2
    assert len(verse.val) == sum(n - int(n * 0.9) for n in file_lengths)  # each file's own tail
    assert len(prose.val) > 0
    assert corpus.train.dtype == torch.uint8
    # Shares: weight x training characters, over the sum of them.
    expected = 3 * len(verse.train) / (3 * len(verse.train) + len(prose.train))
    assert verse.weight == pytest.approx(expected) and verse.weight + prose.weight == pytest.approx(1)


def test_a_mixture_vocabulary_has_all_of_pushkin_and_drops_the_rare_rest(sources, monkeypatch):
    monkeypatch.setattr(mixture, "MIN_CHAR_SHARE", 1e-4)  # one in a million of a corpus this small is 0
    corpus = read_corpus(parse_sources([f"{sources}/verse", f"{sources}/prose.txt"]), 0.1, 0.05)
    assert set(PUSHKIN_CHARS) <= set(corpus.vocab.chars)
    assert "☃" not in corpus.vocab.chars and corpus.vocab.chars[0] == UNKNOWN
    assert "ё" in corpus.vocab.chars


@pytest.mark.skipif(not PUSHKIN.is_file(), reason="the Pushkin corpus is not beside the checkout")
def test_the_pushkin_alphabet_is_the_corpus_own():
    assert set(PUSHKIN.read_text(encoding="utf-8")) == set(PUSHKIN_CHARS)


def test_rows_follow_the_shares_and_every_source_has_one():
    assert row_counts([0.75, 0.25], 32) == [24, 8]
    assert row_counts([0.98, 0.01, 0.01], 8) == [6, 1, 1]
    assert sum(row_counts([0.5, 0.3, 0.2], 7)) == 7
    with pytest.raises(PushkinLMError, match="--batch_size 3"):
        row_counts([0.4, 0.3, 0.3], 2)


def test_each_source_reads_its_own_rows_consecutively(sources):
    corpus = read_corpus(parse_sources([f"{sources}/verse:3", f"{sources}/prose.txt"]), 0.1, 0.05)
    windows = MixtureWindows(corpus.sources, 16, 8, torch.Generator().manual_seed(0))
    first_x, first_y, fresh = windows.next()
    second_x, _, _ = windows.next()
    assert fresh and first_x.shape == (8, 16) and first_x.dtype == torch.long
    assert torch.equal(first_x[:, 1:], first_y[:, :-1])
    verse_rows = windows.rows[0]
    verse_text, prose_text = (corpus.vocab.decode(s.train.tolist()) for s in corpus.sources)
    for row in range(8):  # rows carry on where they stopped, each inside its own source
        text = corpus.vocab.decode(torch.cat([first_x[row], second_x[row]]).tolist())
        assert text in (verse_text if row < verse_rows else prose_text)


def test_a_mixture_trains_logs_each_source_and_resumes_exactly(sources, tmp_path):
    data = [f"{sources}/verse:3", f"{sources}/prose.txt"]
    logged: list[str] = []
    model = ModelConfig(**{**TINY_MODEL, "dropout": 0.2})  # dropout makes the RNG state matter
    straight = Trainer(tiny_run_config(data, tmp_path / "a", threads=1), model, log=logged.append)
    metrics = straight.run()
    assert set(metrics["val_by_source"]) == {"verse", "prose"}
    assert "mix verse" in logged[0] and any("val prose" in line for line in logged)
    Trainer(tiny_run_config(data, tmp_path / "b", threads=1), model, log=print).run(stop_at=15)
    Trainer.resume(tmp_path / "b", {}, log=print).run()
    for name in ("a", "b"):
        assert load_checkpoint(tmp_path / name / "last").meta["step"] == 30
    weights = [load_checkpoint(tmp_path / name / "last").model.state_dict() for name in ("a", "b")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


BAD_MIXTURES = {
    "a missing source": (["W/verse.txt:2", "W/missing.txt"], None, "does not exist"),
    "a weight of 0": (["W/verse.txt:0"], None, "a positive number"),
    "a weight of -1": (["W/verse.txt:-1", "W/verse.txt"], None, "a positive number"),
    "a weight of nan": (["W/verse.txt:nan"], None, "a positive number"),
    "a weight that is a word": (["W/verse.txt:lots"], None, "must be a number"),
    "a folder without text": (
        ["W/verse.txt", "W/notes"],
        lambda w: (w / "notes").mkdir() or _write(w / "notes/readme.md", "текст"),
        "holds no train.txt",
    ),
    "a source of unknown characters": (
        ["W/big.txt", "W/cjk.txt"],
        lambda w: (_write(w / "big.txt", make_verse() * 20), _write(w / "cjk.txt", "中文\n")),
        "outside the vocabulary",
    ),
    "more sources than rows": (
        ["W/verse.txt", "W/verse.txt", "W/verse.txt", "--batch_size", "2"],
        None,
        "--batch_size 3",
    ),
}


@pytest.mark.parametrize("case", BAD_MIXTURES)
def test_a_bad_mixture_is_one_line_and_exit_2(case, workspace, capsys, monkeypatch):
    monkeypatch.setattr(mixture, "MIN_CHAR_SHARE", 1e-4)
    data, prepare_workspace, phrase = BAD_MIXTURES[case]
    args = ["--data", *data, "--out", "W/out", "--max_iters", "1"]
    check_case(("train", args, prepare_workspace, phrase), workspace, capsys)
