"""Bad text (docs/errors.md): a --data file or folder, or a --prompt_file, that is missing,
empty, binary, not UTF-8, endless (/dev/zero) or too short for what is asked of it.

Training and evaluation read whatever path the user types, so each refusal is one line on stderr
naming the problem and the fix (which file to pass, how to convert it), exit status 2, no
traceback, nothing echoed on stdout, and the workspace left byte for byte as it was
(`badinput.check_case`): no run folder is started for a text that cannot be trained on. Text that
only looks odd (a pipe, a byte-order mark, Windows line endings) is read as plain text instead.
"""

import subprocess
import sys

import pytest
from badinput import check_case
from conftest import ROOT, run_script

CASES = {
    "data path missing (train)": (
        "train",
        ["--data", "W/missing.txt", "--out", "W/out"],
        None,
        "does not exist",
    ),
    "data path missing (evaluate)": (
        "evaluate",
        ["--data", "W/missing.txt", "--checkpoint", "CK"],
        None,
        "does not exist",
    ),
    "folder without train.txt": (
        "train",
        ["--data", "W/empty", "--out", "W/out"],
        lambda w: (w / "empty").mkdir(),
        "holds no train.txt",
    ),
    "folder without a text (evaluate)": (
        "evaluate",
        ["--data", "W/empty", "--checkpoint", "CK"],
        lambda w: (w / "empty").mkdir(),
        "neither test.txt nor train.txt",
    ),
    "empty file": (
        "train",
        ["--data", "W/bad.txt", "--out", "W/out"],
        lambda w: (w / "bad.txt").write_bytes(b""),
        "is empty",
    ),
    "binary file": (
        "train",
        ["--data", "W/bad.txt", "--out", "W/out"],
        lambda w: (w / "bad.txt").write_bytes(b"\x7fELF\x02\x01\x00\x00"),
        "looks binary",
    ),
    "non-UTF-8 file": (
        "evaluate",
        ["--data", "W/bad.txt", "--checkpoint", "CK"],
        lambda w: (w / "bad.txt").write_bytes("Мороз и солнце".encode("cp1251")),
        "not UTF-8",
    ),
    "text shorter than a window": (
        "train",
        ["--data", "W/bad.txt", "--out", "W/out"],
        lambda w: (w / "bad.txt").write_text("Мороз и солнце", encoding="utf-8"),
        "too short",
    ),
    "data file endless (train)": (
        "train",
        ["--data", "/dev/zero", "--out", "W/out"],
        None,
        "larger than 256 MiB",
    ),
    "data file endless (evaluate)": (
        "evaluate",
        ["--data", "/dev/zero", "--checkpoint", "CK"],
        None,
        "larger than 256 MiB",
    ),
    "val split of a 10-character file": (
        "evaluate",
        ["--data", "W/short.txt", "--checkpoint", "CK", "--split", "val"],
        lambda w: (w / "short.txt").write_text("луна и мор", encoding="utf-8"),
        "the val split of",
    ),
    # A model reads every such character as its one unknown id: a score of nothing, not of the text.
    "text of unknown characters only": (
        "evaluate",
        ["--data", "W/cjk.txt", "--checkpoint", "CK"],
        lambda w: (w / "cjk.txt").write_text("漢字" * 100, encoding="utf-8"),
        "every character of the text is outside the model's vocabulary ('字', '漢'), so it would be scored "
        "as the unknown character repeated, which measures nothing",
    ),
    # The text is long enough; the share held out of it is what leaves nothing to train on or score.
    "--val_fraction leaving no training split": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--init_from", "none", "--val_fraction", "0.999"],
        None,
        "--val_fraction 0.999 leaves the training split of",
    ),
    "--calib_fraction leaving no training split": (
        "train",
        ["--data", "W/verse.txt", "--out", "W/out", "--init_from", "none", "--calib_fraction", "0.999"],
        None,
        "--calib_fraction 0.999 leaves the training split of",
    ),
    "--val_fraction leaving no train split (evaluate)": (
        "evaluate",
        ["--data", "W/verse.txt", "--checkpoint", "CK", "--split", "train", "--val_fraction", "0.9999"],
        None,
        "--val_fraction 0.9999 leaves it too few; lower --val_fraction, or pass --split all",
    ),
    "prompt outside the vocabulary": (
        "generate",
        ["--checkpoint", "CK", "--prompt", "Hello"],
        None,
        "does not know",
    ),
    "prompt file missing": (
        "generate",
        ["--checkpoint", "CK", "--prompt_file", "W/nope.txt"],
        None,
        "cannot read",
    ),
    "prompt file endless": (
        "generate",
        ["--checkpoint", "CK", "--prompt_file", "/dev/zero"],
        None,
        "larger than 16 MiB",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_data(case, workspace, capsys):
    check_case(CASES[case], workspace, capsys)


def test_a_prompt_from_a_pipe_bom_and_windows_line_endings_are_read_as_plain_text(workspace, verse):
    line = verse.splitlines()[0]
    (workspace / "windows.txt").write_bytes(b"\xef\xbb\xbf" + f"{line}\r\n{line}\r\n".encode())
    args = ["--checkpoint", str(workspace / "ck"), "--max_tokens", "5", "--seed", "1"]
    from_file = run_script("generate", *args, "--prompt_file", str(workspace / "windows.txt"))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.startswith(f"{line}\n{line}\n")
    piped = subprocess.run(
        [sys.executable, str(ROOT / "code/generate.py"), *args, "--prompt_file", "/dev/stdin"],
        input=line,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and piped.stdout.startswith(line), piped.stderr
