"""Smoke tests of bench/: each script runs as a user runs it, with settings that take seconds, on a
tiny trained checkpoint and made-up verse (never the real corpus), and its output is checked.

A script spends most of its few seconds importing torch on one core, so the runs that the selected
tests need are all queued at once (`runs`), two run at a time, and each test waits for its own.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from conftest import TINY_FLAGS, make_verse

from pushkin_lm.core.files import read_text
from pushkin_lm.core.vocab import CharVocab
from pushkin_lm.data.corpus import split_train_val
from pushkin_lm.model.scorer import score_ids
from pushkin_lm.store.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300
PARALLEL = 2  # runs at a time: a script mostly waits on imports on one core, and most machines have two
# compare.py's pushkin-lm rows at the size of conftest's TINY_MODEL, with tiny batches.
TINY_SET = (
    "hidden_size=32 embed_dim=16 num_heads=2 attn_window=12 batch_size=4 block_size=16 "
    "eval_interval=10 warmup_iters=5"
).split()
SHIPPED_RESULTS = ROOT / "bench" / "results" / "compare-10min.json"


def bench_runs(checkpoint: Path, data: Path, scratch: Path) -> dict[str, list[str]]:
    """Each run, named `<test>` or `<test>:<variant>`: its script in bench/ and the script's arguments."""
    on_verse = ["--checkpoint", str(checkpoint), "--data", str(data), "--json"]
    compare = ["--minutes", "0.005", "--data", str(data), "--json_out", str(scratch / "compare.json")]
    return {
        "compare": ["compare", *compare, "--peak_gflops", "100", "--keep", str(scratch / "runs")]
        + ["--set", *TINY_SET],
        "compare_render": ["compare", "--render", str(SHIPPED_RESULTS)],
        "gpt": ["gpt", "--minutes", "0.005", "--data", str(data), "--json"],
        "corpus": ["corpus"],
        "distributed_scaling": ["distributed_scaling", "--data", str(data), "--steps", "40", "--rounds", "1"]
        + ["--json", "--", *TINY_FLAGS],
        "finetune": ["finetune", "--data", str(data), "--checkpoint", str(checkpoint), "--minutes", "0.01"]
        + ["--json", "--", "--batch_size", "4", "--block_size", "16"],
        # The shipped model (the default): its vocabulary has every letter of the Onegin prompt line.
        "generate_memory": ["generate_memory", "--lengths", "20", "--prompt_lengths", "600", "--json"],
        # Every command at a ten-thousandth of its largest input; the shipped model draws the picture.
        "peak_memory": ["peak_memory", "--scale", "0.0001", "--json"],
        "lane_steps": [
            "lane_steps",
            "--checkpoint",
            str(checkpoint),
            "--lanes",
            "1",
            "8",
            "--steps",
            "2",
            "--json",
        ],
        "generate_speed": ["generate_speed", *on_verse, "--chars", "30", "--window", "16"]
        + ["--score_chars", "150"],
        "loss_by_word": ["loss_by_word", *on_verse],
        "loss_by_word:adapted": ["loss_by_word", *on_verse, "--adapt_lr", "3e-4"],
        "neural_cache": ["neural_cache", *on_verse, "--windows", "20", "100", "--thetas", "10"]
        + ["--mixes", "0", "0.1"],
        "peak_flops": ["peak_flops", "--sizes", "64", "128", "--threads", "1", "--json"],
        "sample_quality": ["sample_quality", *on_verse, "--samples", "2", "--chars", "120"]
        + ["--temperature", "0.8"],
        "train_step": ["train_step", "--hidden_size", "32", "--steps", "1", "--no_compile", "--no_bf16"]
        + ["--json"],
    }


class Runs:
    """Bench scripts run as a user runs them, in the repository root, two at a time, in order."""

    def __init__(self, runs: dict[str, list[str]]) -> None:
        self.pool = ThreadPoolExecutor(max_workers=PARALLEL)
        self.done = {name: self.pool.submit(self._run, *run) for name, run in runs.items()}

    @staticmethod
    def _run(script: str, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, f"bench/{script}.py", *args]
        return subprocess.run(
            command, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT
        )

    def output(self, name: str) -> str:
        """The stdout of run `name`, which must have succeeded."""
        result = self.done[name].result()
        assert result.returncode == 0, f"{' '.join(result.args)} failed:\n{result.stderr}"
        return result.stdout

    def json(self, name: str):
        return json.loads(self.output(name))

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="module")
def verse_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "verse.txt"
    path.write_text(make_verse(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-out")


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, trained_dir: Path, verse_path: Path, scratch: Path):
    """The runs of the selected tests of this file (`test_<name>` runs `<name>` and `<name>:...`)."""
    here = sys.modules[__name__]
    selected = {
        item.name.removeprefix("test_")
        for item in request.session.items
        if getattr(item, "module", None) is here
    }
    every = bench_runs(trained_dir / "best", verse_path, scratch)
    started = Runs({name: run for name, run in every.items() if name.split(":")[0] in selected})
    yield started
    started.close()


def nats(value: float, vocab_size: int) -> bool:
    """A plausible loss of a barely trained model: positive, finite, not far above uniform."""
    return 0 < value < 1.5 * math.log(vocab_size)


def val_ids(checkpoint_dir: Path, data: Path) -> tuple:
    """The checkpoint, and the validation split of `data` as its ids: what the scripts read."""
    ckpt = load_checkpoint(checkpoint_dir)
    ids = torch.tensor(ckpt.vocab.encode(read_text(data)))
    return ckpt, split_train_val(ids, 0.1)[1]


def test_compare(runs: Runs, verse_path: Path, scratch: Path) -> None:
    printed = runs.output("compare")
    result = json.loads((scratch / "compare.json").read_text())
    rows = {row["key"]: row for row in result["rows"]}
    assert list(rows) == ["a", "b", "c", "d"] and result["peak_gflops"] == 100
    ckpt, ids = val_ids(scratch / "runs" / "default" / "best", verse_path)  # row (a), kept by --keep
    for key, row in rows.items():
        assert row["iterations"] >= 1 and row["params"] > 0, key
        assert nats(row["train_nats_per_char"], len(ckpt.vocab)), key
        assert nats(row["val_nats_per_char"], len(ckpt.vocab)), key
        assert row["chars_per_second"] > 0 and row["flops_per_char"] > 0
        assert row["mfu"] == pytest.approx(row["flops_per_char"] * row["chars_per_second"] / 100e9)
        assert f"| ({key}) | {row['model']} | {row['params']:,} |" in printed
    for key in "abd":
        assert rows[key]["chars_seen"] == rows[key]["iterations"] * 4 * 16  # the --set batch and block
        assert rows[key]["temperature"] > 0
        assert nats(rows[key]["uncalibrated_val_nats_per_char"], len(ckpt.vocab))
    assert rows["c"]["chars_seen"] == rows["c"]["iterations"] * 12 * 64 and "temperature" not in rows["c"]
    assert rows["b"]["params"] == rows["d"]["params"] < rows["a"]["params"]  # attention off
    # The calibrated score is the kept checkpoint's at its temperature, the uncalibrated one at 1.
    a = rows["a"]
    assert ckpt.temperature == pytest.approx(a["temperature"])
    assert score_ids(ckpt.model, ids) == pytest.approx(a["uncalibrated_val_nats_per_char"])
    assert score_ids(ckpt.model, ids, ckpt.temperature) == pytest.approx(a["val_nats_per_char"])


def test_compare_render(runs: Runs) -> None:
    printed = runs.output("compare_render")
    shipped = json.loads(SHIPPED_RESULTS.read_text())
    assert printed.startswith(f"budget {shipped['minutes']:g} min per model")
    for row in shipped["rows"]:
        assert f"| ({row['key']}) | {row['model']} | {row['params']:,} | {row['iterations']:,} |" in printed


def test_gpt(runs: Runs, verse_path: Path) -> None:
    result = runs.json("gpt")
    vocab_size = len(CharVocab.build(read_text(verse_path)))  # as gpt.py builds it
    assert result["iterations"] >= 1 and result["chars_seen"] == result["iterations"] * 12 * 64
    assert nats(result["train_nats_per_char"], vocab_size) and nats(result["val_nats_per_char"], vocab_size)
    # nanoGPT's estimate: 6 per weight that is not a position embedding (64 x 128), and attention.
    assert result["flops_per_char"] > 6 * (result["params"] - 64 * 128) > 0
    assert 0 < result["train_seconds"] < 60


def test_corpus(runs: Runs) -> None:
    result = json.loads(runs.output("corpus"))  # says where the corpus would be; never reads it
    assert result["default_data"].endswith("shared/data/pushkin_new/train.txt")
    assert result["val_fraction"] == 0.1 and isinstance(result["exists"], bool)


def test_generate_memory(runs: Runs) -> None:
    rows = runs.json("generate_memory")
    assert [(row["case"], row["chars"]) for row in rows] == [("new chars", 20), ("prompt chars", 600)]
    for row in rows:
        assert 50 < row["peak_rss_mib"] < 4000 and row["seconds"] > 0


def test_peak_memory(runs: Runs) -> None:
    rows = runs.json("peak_memory")
    assert [row["command"] for row in rows] == ["attention"] * 2 + ["generate"] * 2 + ["evaluate"] * 2 + [
        "train"
    ] * 2 + ["scan"] * 3 + ["plot"] * 2
    refused = [(row["command"], row["input"]) for row in rows if row["refused"]]
    assert refused == [("attention", "--text of 4,000, window 4,096")]
    assert rows[0]["input"] == "--text of 256 characters"  # the shipped model's whole window is drawn
    for row in rows:
        assert 20 < row["peak_rss_mib"] < 4000 and row["seconds"] > 0, row


def test_generate_speed(runs: Runs, trained_dir: Path, verse_path: Path) -> None:
    result = runs.json("generate_speed")
    assert (result["chars"], result["window"], result["threads"], result["score_chars"]) == (30, 16, 1, 150)
    speeds = [result[f"{k}_chars_per_s"] for k in ("incremental_int8", "incremental_float32", "naive")]
    assert all(speed > 0 for speed in speeds)
    assert result["speedup_int8_over_naive"] == pytest.approx(speeds[0] / speeds[2], rel=0.02)
    # The float32 decoder, step by step, scores as the scorer does the network's own logits.
    ckpt, ids = val_ids(trained_dir / "best", verse_path)
    assert result["val_nats_per_char_float32"] == pytest.approx(score_ids(ckpt.model, ids[:150]), abs=2e-4)
    assert result["val_nats_per_char_int8"] == pytest.approx(result["val_nats_per_char_float32"], abs=0.05)


def test_lane_steps(runs: Runs) -> None:
    from pushkin_lm.model.decoder import MANY_ROWS, lanes_engine_for_this_cpu

    result = runs.json("lane_steps")
    assert (result["chosen"], result["many_rows"]) == (lanes_engine_for_this_cpu(), MANY_ROWS)
    for engine in ("fbgemm", "onednn"):
        assert set(result["ms_per_step"][engine]) == {"1", "8"}
        assert all(ms > 0 for ms in result["ms_per_step"][engine].values())


def test_loss_by_word(runs: Runs, trained_dir: Path, verse_path: Path) -> None:
    static, adapted = runs.json("loss_by_word"), runs.json("loss_by_word:adapted")
    ckpt, ids = val_ids(trained_dir / "best", verse_path)
    # One stream, calibrated: what the library's scorer gives the validation split.
    assert static["nats_per_char"] == pytest.approx(score_ids(ckpt.model, ids, ckpt.temperature), abs=1e-5)
    assert static["adapt_lr"] == 0 and adapted["adapt_lr"] == 3e-4
    for result in (static, adapted):
        rows = result["by_kind"]
        assert sum(row["chars"] for row in rows.values()) == len(ids) - 1
        assert sum(row["share_of_chars"] for row in rows.values()) == pytest.approx(1)
        assert sum(row["share_of_loss"] for row in rows.values()) == pytest.approx(1)
        assert rows["known"]["chars"] > rows["new"]["chars"]  # the made-up verse repeats 14 words
        assert nats(result["if_new_words_cost_as_much_as_known"], len(ckpt.vocab))
    # Dynamic evaluation learnt from the chunks it had read, and not much.
    assert adapted["nats_per_char"] != static["nats_per_char"]
    assert adapted["nats_per_char"] == pytest.approx(static["nats_per_char"], abs=0.5)


def test_neural_cache(runs: Runs, trained_dir: Path, verse_path: Path) -> None:
    result = runs.json("neural_cache")
    ckpt, ids = val_ids(trained_dir / "best", verse_path)
    model = result["model_nats_per_char"]
    assert model == pytest.approx(score_ids(ckpt.model, ids, ckpt.temperature), abs=1e-5)
    assert [(r["window"], r["theta"], r["mix"]) for r in result["grid"]] == [
        (w, 10.0, m) for w in (20, 100) for m in (0.0, 0.1)
    ]
    for row in result["grid"]:
        assert nats(row["nats_per_char"], len(ckpt.vocab))
        if row["mix"] == 0:
            assert row["nats_per_char"] == pytest.approx(model)  # no cache: the model alone


def test_peak_flops(runs: Runs) -> None:
    result = runs.json("peak_flops")
    assert result["threads"] == 1 and result["dtype"] == "float32"
    assert 0 < result["peak_gflops"] < 1e6


def test_sample_quality(runs: Runs) -> None:
    result = runs.json("sample_quality")
    assert result["samples"] == 2 and result["chars"] == 120 and result["temperature"] == 0.8
    assert result["precision"] == "int8" and result["words"] > 0
    for share in ("known_word_share", "copied_30char_share", "verse_line_share"):
        assert 0 <= result[share] <= 1


def test_train_step(runs: Runs) -> None:
    result = runs.json("train_step")
    assert (result["hidden_size"], result["attention"], result["bf16"]) == (32, True, False)
    assert 0 < result["eager_step_s"] < 30 and result["eager_warmup_s"] > 0
    assert "compiled_step_s" not in result


def test_distributed_scaling(runs: Runs) -> None:
    result = runs.json("distributed_scaling")
    assert [row["processes"] for row in result["rows"]] == [1, 2]
    assert all(row["threads_each"] == 1 and row["chars_per_s"] > 0 for row in result["rows"])
    assert result["rows"][0]["speedup"] == 1.0 and result["batch_size_per_process"] == 4


def test_finetune(runs: Runs, verse_path: Path) -> None:
    result = runs.json("finetune")
    vocab_size = len(CharVocab.build(read_text(verse_path)))
    for run in ("as_is", "fine_tuned", "from_scratch"):
        assert nats(result[f"{run}_nats_per_char"], vocab_size)
    assert result["minutes"] == 0.01 and result["val_chars"] > 0


def test_the_language_measure_counts_agreeing_adjective_noun_pairs_and_real_words():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from language import Language, line_ends
    finally:
        sys.path.remove(str(ROOT / "bench"))
    language = Language()
    # Made-up lines: белый снег and тёмной роще agree, белая снег does not; «ночной, седой
    # туман» has a comma between its adjective and noun, so only «седой туман» is a pair.
    shares = language.shares(["Лежит белый снег в тёмной роще,", "И белая снег, ночной, седой туман"])
    assert shares["agreement_pairs"] == 4 and shares["agreement"] == 0.75
    assert language.shares(["Глокая куздра"])["real_words"] == 0.0
    assert language.shares(["Мой дядя самых честных правил"])["real_words"] == 1.0
    assert line_ends([["Мой дядя,", "Когда не в шутку занемог!"], [""]]) == ["дядя", "занемог", ""]


def test_verse_quality_counts_the_lines_that_repeat_an_opening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from verse_quality import check

    stanza = ["В душе моей горит огонь,", "В душе моей темно и пусто,", "Я помню чудное мгновенье,", "Ты мне"]
    assert check([stanza], "aBaB", "iamb", 4)["repeated_openings"] == 0.5  # two of four lines
