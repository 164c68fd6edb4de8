"""`pushkin-lm plot`, `attention` and `scan` as a user runs them."""

import json

import matplotlib.image
import pytest
from conftest import TINY_FLAGS, run_script

from pushkin_lm.cli.main import main

QUATRAIN = (
    "Мой дядя самых честных правил,\nКогда не в шутку занемог,\n"
    "Он уважать себя заставил\nИ лучше выдумать не мог."
)


def assert_a_picture(path) -> None:
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300 and pixels.std() > 0.04  # drawn, not blank


def test_plot_draws_a_runs_curves_into_its_folder(trained_dir, tmp_path, capsys):
    assert main(["plot", str(trained_dir), "--png", str(tmp_path / "curves.png")]) == 0
    assert_a_picture(tmp_path / "curves.png")
    assert capsys.readouterr().out.strip() == str(tmp_path / "curves.png")


def test_attention_draws_a_heat_map_of_a_line(trained_dir, tmp_path):
    out = tmp_path / "attn.png"
    assert (
        main(["attention", "--checkpoint", str(trained_dir), "--text", "луна и море", "--out", str(out)]) == 0
    )
    assert_a_picture(out)


def test_plot_of_a_folder_without_a_log_is_one_line(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "log.jsonl" in err


def test_scan_marks_stress_meter_and_rhyme(tmp_path, capsys):
    poem = tmp_path / "onegin.txt"
    poem.write_text(
        QUATRAIN + "\n\nБуря мглою небо кроет,\nВихри снежные крутя;\n"
        "То, как зверь, она завоет,\nТо заплачет, как дитя\n",
        encoding="utf-8",
    )
    assert main(["scan", str(poem), "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    first, second = scanned["stanzas"]
    assert first["scheme"] == "AbAb" and second["scheme"] == "AbAb"
    assert first["lines"][0] | {"stressed": None} == {
        "text": "Мой дядя самых честных правил,",
        "stressed": None,
        "syllables": 9,
        "meter": "iamb",
        "feet": 4,
        "ending": "feminine",
        "rhyme": "A",
    }
    assert "\u0301" in first["lines"][0]["stressed"]
    assert second["lines"][0]["meter"] == "trochee"
    assert main(["scan", "--text", QUATRAIN]) == 0
    shown = capsys.readouterr().out
    assert "scheme AbAb" in shown and "iamb 4" in shown and "summary:" in shown


@pytest.mark.parametrize("argv", [["scan"], ["scan", "x.txt", "--text", "луна"]])
def test_scan_needs_exactly_one_text(argv, capsys):
    assert main(argv) == 2 and "give a FILE to scan or --text" in capsys.readouterr().err


def test_training_ends_with_a_picture_of_its_curves(tmp_path, verse_file):
    out = tmp_path / "run"
    result = run_script(
        "train",
        "--data",
        str(verse_file),
        "--out",
        str(out),
        "--max_iters",
        "4",
        "--eval_interval",
        "2",
        *TINY_FLAGS,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "curves.png").is_file() and f"curves: {out / 'curves.png'}" in result.stdout
