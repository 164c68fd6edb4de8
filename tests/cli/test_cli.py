"""The real command-line scripts, run as a user runs them."""

import contextlib
import dataclasses
import io
import json
import math
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, TINY_FLAGS, run_script

from pushkin_lm import __version__
from pushkin_lm.cli import train as train_command
from pushkin_lm.cli.main import ArgumentParser, main, train_main
from pushkin_lm.model.config import ModelConfig
from pushkin_lm.sampling.config import SampleConfig
from pushkin_lm.store.checkpoint import load_checkpoint
from pushkin_lm.train.recipe import PRESETS, TrainConfig


def assert_one_line_error(result, *phrases):
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr


def test_train_generate_evaluate_end_to_end(tmp_path, verse_file):
    out = tmp_path / "run"
    # Both spellings of flags, and the negative form of a boolean flag.
    flags = "--max-iters 40 --hidden_size 32 --embed-dim 16 --num_heads 2 --block_size 32 --batch_size 8"
    flags += " --eval_interval 20 --no_progress --no-stateful"
    trained = run_script("train", "--data", str(verse_file), "--out", str(out), *flags.split())
    assert trained.returncode == 0, trained.stderr
    assert "val" in trained.stdout and (out / "best" / "config.json").is_file()
    config = json.loads((out / "best" / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["hidden_size"] == 32 and config["model"]["embed_dim"] == 16
    assert config["meta"]["train_config"]["stateful"] is False

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


def test_float32_precision_samples_the_exact_trained_model(trained_dir):
    from pushkin_lm.model.decoder import Decoder
    from pushkin_lm.sampling.config import SampleConfig
    from pushkin_lm.sampling.sample import generate
    from pushkin_lm.store.checkpoint import load_checkpoint

    ckpt = load_checkpoint(trained_dir)
    exact = "".join(
        generate(
            Decoder(ckpt.model, int8=False), ckpt.vocab, "мороз", SampleConfig(max_tokens=60, temperature=0)
        )
    )
    flags = ["--checkpoint", str(trained_dir), "--prompt", "мороз", "--temperature", "0"]
    flags += ["--max_tokens", "60"]
    result = run_script("generate", *flags, "--precision", "float32")
    assert result.returncode == 0 and result.stdout == "мороз" + exact + "\n"
    assert run_script("generate", *flags, "--precision", "int8").returncode == 0


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


def test_checkpoint_folder_of_another_program(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    result = run_script("generate", "--checkpoint", str(tmp_path))
    assert_one_line_error(result, "not a pushkin-lm checkpoint")


def test_help_lists_both_spellings():
    result = run_script("generate", "--help")
    assert result.returncode == 0 and "--max_tokens" in result.stdout and "--max-tokens" in result.stdout


@pytest.mark.parametrize("name", ["stateful", "bf16", "shift_keys"])
def test_yes_no_flags_take_every_spelling(name):
    parser = ArgumentParser(prog="train")
    train_command.flags(parser)
    dashed = name.replace("_", "-")
    for spelling in {f"--{name}", f"--{dashed}"}:
        assert getattr(parser.parse_args([spelling]), name) is True
    for spelling in {f"--no-{name}", f"--no_{name}", f"--no-{dashed}"}:
        assert getattr(parser.parse_args([spelling]), name) is False
    assert getattr(parser.parse_args([]), name) is None  # not given: the config's default stands


def test_a_yes_no_flag_is_shown_in_one_spelling_each_way():
    shown = run_script("train", "--help").stdout
    assert "[--shift_keys | --no_shift_keys]" in shown and "  --shift_keys, --no_shift_keys\n" in shown
    assert "--shift-keys" not in shown and "--no-shift" not in shown, shown


def test_absurd_max_tokens_streams_and_stops_cleanly_on_ctrl_c(trained_dir):
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "code" / "generate.py"),
            "--checkpoint",
            str(trained_dir),
            "--max_tokens",
            str(10**12),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # Ctrl-C as at a terminal: a job started in the background inherits SIGINT ignored,
        # and Python then keeps ignoring it, as it should.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = proc.stdout.read(200)  # text streams long before the end
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert len(first) == 200
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err


def test_prompt_longer_than_the_attention_window_is_read_whole(trained_dir, verse):
    prompt = verse[:200]  # the tiny model's window is 12 characters
    result = run_script(
        "generate", "--checkpoint", str(trained_dir), "--prompt", prompt, "--max_tokens", "20"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(prompt) and len(result.stdout) == len(prompt) + 21


def test_evaluate_split_val_matches_the_validation_score_of_training(trained_dir, verse_file):
    result = run_script(
        "evaluate", "--data", str(verse_file), "--checkpoint", str(trained_dir), "--split", "val", "--json"
    )
    assert result.returncode == 0, result.stderr
    score = json.loads(result.stdout)
    text = verse_file.read_text(encoding="utf-8")
    assert score["chars"] == len(text) - int(len(text) * 0.9) - 1
    best = json.loads((trained_dir / "best" / "config.json").read_text(encoding="utf-8"))["meta"]
    assert math.isclose(score["nats_per_char"], best["val_nats_per_char"], rel_tol=1e-5)


def train_here(*args: str) -> str:
    """`code/train.py ARGS` through its entry point, in this process (which has torch loaded
    already: a second or two quicker than a new one); what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert train_main(list(args)) == 0
    return printed.getvalue()


def train_with_preset(out, verse_file, preset: str, *flags: str) -> dict:
    """Train two tiny steps with `--preset preset` and these flags; the saved best config."""
    tiny = ["--max_iters", "2", "--block_size", "16", "--batch_size", "4", "--no_progress"]
    train_here("--data", str(verse_file), "--out", str(out), "--preset", preset, *tiny, *flags)
    return json.loads((out / "best" / "config.json").read_text(encoding="utf-8"))


def test_small_preset_sets_a_smaller_model_that_flags_still_override(tmp_path, verse_file):
    model = train_with_preset(tmp_path / "run", verse_file, "small", "--num_layers", "2")["model"]
    assert model["hidden_size"] == 256 and model["embed_dim"] == 64 and model["num_layers"] == 2


def test_the_shipped_preset_is_the_shipped_checkpoints_recipe_and_the_old_one_is_kept(tmp_path, verse_file):
    shipped = json.loads((ROOT / "checkpoints" / "pushkin-lm" / "config.json").read_text(encoding="utf-8"))
    recorded = {**shipped["model"], **shipped["meta"]["train_config"]}
    assert {k: recorded[k] for k in PRESETS["shipped"]} == PRESETS["shipped"]

    tiny_model = ["--hidden_size", "32", "--embed_dim", "16"]
    saved = train_with_preset(tmp_path / "run", verse_file, "pushkin-only", *tiny_model)
    assert saved["model"]["embed_dropout"] == 0.1
    assert saved["meta"]["train_config"]["eval_interval"] == 500
    assert saved["meta"]["train_config"]["max_minutes"] == 150.0


@pytest.mark.parametrize(
    ("flag", "setting", "saved"),
    [
        ("--no_attention", "attention", False),
        ("--no_shift_keys", "shift_keys", False),
        (None, "shift_keys", True),
    ],
)
def test_switch_flags_reach_the_saved_model(tmp_path, verse_file, flag, setting, saved):
    out = tmp_path / "run"
    args = ["--data", str(verse_file), "--out", str(out), "--max_iters", "1", *TINY_FLAGS]
    train_here(*args, *([flag] if flag else []))
    model = json.loads((out / "best" / "config.json").read_text(encoding="utf-8"))["model"]
    assert model[setting] is saved


@pytest.mark.parametrize("fraction", ["0", "0.2"])
def test_calibration_flag_sets_the_held_out_share_and_the_temperature(tmp_path, verse_file, fraction):
    out = tmp_path / "run"
    args = ["--data", str(verse_file), "--out", str(out), "--max_iters", "3", "--calib_fraction", fraction]
    printed = train_here(*args, *TINY_FLAGS)
    meta = load_checkpoint(out / "best").meta
    assert meta["train_config"]["calib_fraction"] == float(fraction)
    assert (meta["temperature"] == 1.0) == (fraction == "0")  # no held-out text: nothing to fit
    assert "calibration" in printed  # the log names the held-out share


def test_one_command_with_a_subcommand_each(trained_dir, verse_file, capsys):
    with pytest.raises(SystemExit) as shown:
        main(["--help"])
    listed = capsys.readouterr().out
    assert shown.value.code == 0 and all(command in listed for command in ("train", "generate", "evaluate"))
    assert main(["generate", "--checkpoint", str(trained_dir), "--max_tokens", "20", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out) == 21
    assert main(["evaluate", "--data", str(verse_file), "--checkpoint", str(trained_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chars"] > 0
    with pytest.raises(SystemExit) as refused:
        main(["generate", "--top_k", "0"])
    assert refused.value.code == 2 and "pushkin-lm generate: error:" in capsys.readouterr().err


@pytest.mark.parametrize("config", [TrainConfig, ModelConfig, SampleConfig])
def test_every_setting_is_a_flag_whose_help_shows_its_default(config):
    command = "generate" if config is SampleConfig else "train"
    shown = " ".join(run_script(command, "--help").stdout.split())  # unwrapped
    for field in dataclasses.fields(config):
        if not field.metadata["flag"]:
            continue
        assert f"--{field.name}" in shown
        if field.default is not None:
            assert f"(default: {field.default})" in shown, field.name


def test_generate_writes_a_stanza_in_the_form_asked_for():
    result = run_script("generate", "--form", "abab", "--meter", "iamb4", "--seed", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip("\n").split("\n")
    assert len(lines) == 4 and all(line.strip() for line in lines)
    refused = run_script("generate", "--form", "abab", "--meter", "iamb99x")
    assert_one_line_error(refused, "--meter")


@pytest.mark.parametrize(
    "argv, prog", [(["--version"], "pushkin-lm"), (["generate", "--version"], "pushkin-lm generate")]
)
def test_version_is_printed_by_every_command(argv, prog, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0 and capsys.readouterr().out == f"{prog} {__version__}\n"


def test_the_scripts_print_their_version():
    done = run_script("train", "--version")
    assert done.returncode == 0 and done.stdout == f"pushkin-lm-train {__version__}\n"


def test_every_sampling_setting_without_a_default_says_what_unset_means():
    unset = [f for f in dataclasses.fields(SampleConfig) if f.default is None]
    assert unset and all("unset" in f.metadata["help"] for f in unset)


def test_a_missing_text_is_reported_before_an_occupied_out_folder(trained_dir, tmp_path):
    done = run_script("train", "--data", str(tmp_path / "missing.txt"), "--out", str(trained_dir))
    assert done.returncode == 2 and "missing.txt" in done.stderr and "already holds" not in done.stderr


def test_help_of_every_command_imports_no_torch():
    # --help must be instant: torch alone takes seconds to import.
    code = (
        "import sys, contextlib, io\n"
        "from pushkin_lm.cli.main import COMMANDS, main\n"
        "for argv in [['--help']] + [[name, '--help'] for name in COMMANDS]:\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        main(argv)\n"
        "print(sorted({'torch', 'numpy', 'huggingface_hub', 'gradio', 'matplotlib'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
