"""What the bad-input tests share: editing a workspace's checkpoint, and running one case.

A case is (command, argument list, what to do to the workspace first, phrase the error must
contain). In arguments, CK is a copy of a trained checkpoint, RUN a copy of a training run's folder,
W the workspace (the `workspace` fixture of conftest.py); W/ in the phrase is the workspace too.
"""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pushkin_lm.cli.main import evaluate_main, generate_main, main, train_main

MAINS = {"generate": generate_main, "evaluate": evaluate_main, "train": train_main}
# The commands that exist only as `pushkin-lm COMMAND`.
MAINS |= {
    name: lambda argv, name=name: main([name, *argv])
    for name in ("attention", "plot", "push", "scan", "demo")
}


def edit_config(ck: Path, edit) -> None:
    config = json.loads((ck / "config.json").read_text())
    edit(config)
    (ck / "config.json").write_text(json.dumps(config))


def edit_weights(ck: Path, name: str, value: float) -> None:
    weights = load_file(ck / "model.safetensors")
    weights[name] = torch.full_like(weights[name], value)
    save_file(weights, ck / "model.safetensors")


def edit_trainer_state(last: Path, **changes) -> None:
    state = json.loads((last / "trainer.json").read_text())
    (last / "trainer.json").write_text(json.dumps({**state, **changes}))


def edit_trainer_tensors(last: Path, edit) -> None:
    """`edit` the named tensors of a run's trainer.safetensors in place (a dict of them)."""
    tensors = load_file(last / "trainer.safetensors")
    edit(tensors)
    save_file(tensors, last / "trainer.safetensors")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def snapshot(root: Path) -> dict:
    """Every file's bytes and every folder's name: an empty folder left behind counts too."""
    return {p: p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def check_case(case: tuple, workspace: Path, capsys) -> None:
    """Run `case`: one line on stderr with its phrase, exit status 2, no traceback, nothing on
    stdout (not even an echoed prompt), and the workspace byte for byte as it was."""
    command, args, prepare, phrase = case
    if prepare:
        prepare(workspace)
    subst = {"CK": str(workspace / "ck"), "RUN": str(workspace / "run")}
    argv = [subst.get(a, a.replace("W/", f"{workspace}/", 1)) for a in args]
    before = snapshot(workspace)
    try:
        code = MAINS[command](argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert phrase.replace("W/", f"{workspace}/") in err, err
    assert snapshot(workspace) == before  # nothing saved was touched, nothing half-written was left
    assert captured.out == ""
