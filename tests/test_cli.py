"""The real command-line scripts, run as a user runs them."""

import json
import math

import pytest
from conftest import run_script


def assert_one_line_error(result, *phrases):
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


def test_train_generate_evaluate_end_to_end(tmp_path, verse_file):
    out = tmp_path / "run"
    trained = run_script(
        "train",
        "--data",
        str(verse_file),
        "--out",
        str(out),
        "--max-iters",
        "40",
        "--hidden_size",
        "32",
        "--embed-dim",
        "16",
        "--num_heads",
        "2",
        "--block_size",
        "32",
        "--batch_size",
        "8",
        "--eval_interval",
        "20",
        "--no_progress",
        "--stateful",
    )
    assert trained.returncode == 0, trained.stderr
    assert "val" in trained.stdout and (out / "best" / "config.json").is_file()
    config = json.loads((out / "best" / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["hidden_size"] == 32 and config["model"]["embed_dim"] == 16
    assert config["meta"]["train_config"]["stateful"] is True

    generated = run_script(
        "generate", "--checkpoint", str(out), "--prompt", "луна", "--max_tokens", "120", "--seed", "5"
    )
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith("луна") and len(generated.stdout) == len("луна") + 120 + 1

    evaluated = run_script("evaluate", "--data", str(verse_file), "--checkpoint", str(out), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    score = json.loads(evaluated.stdout)
    assert score["chars"] == len(verse_file.read_text(encoding="utf-8")) - 1 and score["unknown_chars"] == 0
    uniform = math.log(len(set(verse_file.read_text(encoding="utf-8"))) + 1)
    assert 0 < score["nats_per_char"] < uniform


def test_generate_is_deterministic_per_seed_and_writes_num_samples(trained_dir):
    args = [
        "--checkpoint",
        str(trained_dir),
        "--max_tokens",
        "60",
        "--temperature",
        "1.0",
        "--num_samples",
        "2",
    ]
    first = run_script("generate", *args, "--seed", "11")
    again = run_script("generate", *args, "--seed", "11")
    other = run_script("generate", *args, "--seed", "12")
    assert first.returncode == 0 and first.stdout == again.stdout != other.stdout
    assert first.stdout.count("-" * 40) == 1


def test_prompt_file_and_greedy(trained_dir, tmp_path):
    (tmp_path / "p.txt").write_text("мороз", encoding="utf-8")
    a = run_script(
        "generate",
        "--checkpoint",
        str(trained_dir),
        "--prompt_file",
        str(tmp_path / "p.txt"),
        "--temperature",
        "0",
        "--max_tokens",
        "40",
        "--seed",
        "1",
    )
    b = run_script(
        "generate",
        "--checkpoint",
        str(trained_dir),
        "--prompt",
        "мороз",
        "--temperature",
        "0",
        "--max_tokens",
        "40",
        "--seed",
        "2",
    )
    assert a.returncode == 0 and a.stdout == b.stdout and a.stdout.startswith("мороз")


def test_evaluate_text_output(trained_dir, verse_file):
    result = run_script("evaluate", "--data", str(verse_file), "--checkpoint", str(trained_dir))
    assert result.returncode == 0 and "nats/char" in result.stdout and "bits/char" in result.stdout


def test_shipped_model_writes_500_characters_of_cyrillic_verse():
    result = run_script("generate", "--temperature", "0.8", "--max_tokens", "500", "--seed", "0")
    assert result.returncode == 0, result.stderr
    text = result.stdout[:-1]
    assert len(text) == 500 and text.count("\n") >= 5
    letters = [c for c in text if c.isalpha()]
    assert sum("а" <= c.lower() <= "я" or c.lower() == "ё" for c in letters) / len(letters) > 0.95


@pytest.mark.parametrize(
    "args, phrases",
    [
        (["--max_tokens", "-5"], ["--max_tokens", "0 or more"]),
        (["--max_tokens", "ten"], ["--max_tokens"]),
        (["--temperature", "-1"], ["temperature must be"]),
        (["--top_p", "0"], ["top_p must be in (0, 1]"]),
        (["--top_p", "1.5"], ["top_p must be in (0, 1]"]),
        (["--top_k", "0"], ["--top_k"]),
        (["--frobnicate"], ["unrecognized arguments: --frobnicate"]),
        (["--checkpoint", "/nonexistent/ckpt"], ["does not exist", "--checkpoint"]),
        (["--prompt", "Hello"], ["does not know"]),
        (["--prompt_file", "/nonexistent/prompt.txt"], ["cannot read"]),
    ],
)
def test_generate_bad_input_is_one_line_and_exit_2(trained_dir, args, phrases):
    assert_one_line_error(run_script("generate", "--checkpoint", str(trained_dir), *args), *phrases)


def test_checkpoint_folder_of_another_program(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    result = run_script("generate", "--checkpoint", str(tmp_path))
    assert_one_line_error(result, "not a pushkin-lm checkpoint")


@pytest.mark.parametrize(
    "content, phrase",
    [(b"", "is empty"), (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"), (b"\xcf\xf3\xf8\xea\xe8\xed", "not UTF-8")],
)
def test_train_and_evaluate_refuse_bad_data_files(tmp_path, trained_dir, content, phrase):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    assert_one_line_error(run_script("train", "--data", str(bad), "--out", str(tmp_path / "run")), phrase)
    assert_one_line_error(
        run_script("evaluate", "--data", str(bad), "--checkpoint", str(trained_dir)), phrase
    )
    assert not (tmp_path / "run" / "best").exists()


def test_missing_data_file(tmp_path, trained_dir):
    missing = str(tmp_path / "missing.txt")
    assert_one_line_error(
        run_script("train", "--data", missing, "--out", str(tmp_path / "r")), "does not exist"
    )
    assert_one_line_error(
        run_script("evaluate", "--data", missing, "--checkpoint", str(trained_dir)), "does not exist"
    )


def test_train_refuses_bad_flag_values(tmp_path, verse_file):
    for args in (
        ["--max_iters", "0"],
        ["--batch_size", "-1"],
        ["--max_minutes", "abc"],
        ["--dropout", "1.5"],
    ):
        result = run_script("train", "--data", str(verse_file), "--out", str(tmp_path / "r"), *args)
        assert_one_line_error(result)


def test_help_lists_both_spellings():
    result = run_script("generate", "--help")
    assert result.returncode == 0 and "--max_tokens" in result.stdout and "--max-tokens" in result.stdout
