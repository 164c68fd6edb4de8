"""The architecture of docs/architecture.md, made true: folders are layers and the arrows point down.

Every import of every package file counts, at module level and inside functions (Python runs both).
The test fails on a cycle between modules, on an import of a folder in the same or a higher layer,
on the library importing cli/, on matplotlib, gradio or huggingface_hub outside the modules that
own them, on torch.load or pickle anywhere, and on torch.package's unpickler outside
verse/stress.py. The planted-violation tests show that it can fail.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = "pushkin_lm"
# Bottom first. A module may import its own folder and the folders of lower layers, nothing else;
# folders of one layer know nothing of each other. "" is the package's face, pushkin_lm/__init__.py.
LAYERS = (("core",), ("model", "verse"), ("store",), ("data",), ("train", "sampling"), ("publish",),
          ("demo",), ("",), ("cli",))  # fmt: skip
RANK = {folder: rank for rank, folders in enumerate(LAYERS) for folder in folders}
# Third-party packages that only some modules may import (the rest of the package must not wait for them).
OWNERS = {
    "matplotlib": {"pushkin_lm.publish.plot"},
    "gradio": {"pushkin_lm.demo.page"},
    "huggingface_hub": {"pushkin_lm.store.hub", "pushkin_lm.publish.card", "pushkin_lm.publish.pretrained"},
}
UNPICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
# The one unpickler the package drives: torch.package's, in verse/stress.py, on the installed
# silero-stress's own model file (as trusted as its code; never a user's file). Nowhere else.
PACKAGE_IMPORTER = ("torch.package", "pushkin_lm.verse.stress")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports: a package module, or a third-party top-level package
    line: int


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (a folder's __init__ is the folder)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(root: Path) -> Iterator[Import]:
    """Every import in the package, resolved to the module it loads (`from a import b` is a.b where
    a.b is a module, else a)."""
    known = modules(root)
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _run_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    yield Import(name, submodule if submodule in known else base, node.lineno)


def _run_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node Python may run: all of them but `if TYPE_CHECKING:` blocks, read by type checkers alone."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_run_nodes(child)])
            continue
        yield node
        yield from _run_nodes(node)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*parts, *([node.module] if node.module else [])])


def folder(module: str) -> str:
    """The layer folder of a package module: pushkin_lm.model.decoder -> model; pushkin_lm -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else ""


def internal(found: Iterator[Import]) -> list[Import]:
    return [i for i in found if i.target == PACKAGE or i.target.startswith(f"{PACKAGE}.")]


def cycles(found: list[Import]) -> list[list[str]]:
    """The import cycles between modules, each as the modules around it."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if i.target != i.module:
            graph.setdefault(i.module, set()).add(i.target)
    seen: set[str] = set()
    loops = []

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            loops.append(path[path.index(node) :])
            return
        if node in seen:
            return
        seen.add(node)
        for target in sorted(graph.get(node, ())):
            visit(target, [*path, node])

    for start in sorted(graph):
        visit(start, [])
    return loops


def layer_violations(found: list[Import]) -> list[str]:
    """Imports of a folder that is not below the importer's, the library's of cli/ first among them."""
    problems = []
    for i in found:
        source, target = folder(i.module), folder(i.target)
        where = f"{i.module}:{i.line} imports {i.target}"
        if target == "cli" and source != "cli":
            problems.append(f"{where}: only cli/ knows the command line")
        elif source != target and RANK[target] >= RANK[source]:
            problems.append(f"{where}, which is not in a layer below {source or 'the face'}")
    return problems


def ownership_violations(found: Iterator[Import]) -> list[str]:
    problems = []
    for i in found:
        top = i.target.split(".")[0]
        if top in OWNERS and i.module not in OWNERS[top]:
            problems.append(f"{i.module}:{i.line} imports {top}, which only {sorted(OWNERS[top])} may")
        if top in UNPICKLERS:
            problems.append(f"{i.module}:{i.line} imports {top}: nothing in pushkin-lm unpickles")
        target, owner = PACKAGE_IMPORTER
        if (i.target == target or i.target.startswith(f"{target}.")) and i.module != owner:
            problems.append(
                f"{i.module}:{i.line} imports {target}, which only {owner} may (silero's own file)"
            )
    return problems


def torch_loads(root: Path) -> list[str]:
    """`torch.load(...)`, or `load` imported from torch, anywhere in the package."""
    problems = []
    for name, path in modules(root).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "load" and _names_torch(node.value):
                problems.append(f"{name}:{node.lineno} calls torch.load")
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                if any(alias.name == "load" for alias in node.names):
                    problems.append(f"{name}:{node.lineno} imports torch.load")
    return problems


def _names_torch(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "torch"


def problems(root: Path) -> list[str]:
    found = list(imports(root))
    ours = internal(iter(found))
    loops = [f"import cycle: {' -> '.join([*loop, loop[0]])}" for loop in cycles(ours)]
    return loops + layer_violations(ours) + ownership_violations(iter(found)) + torch_loads(root)


# ------------------------------------------------------------------ the package as it is


def test_every_package_folder_is_a_layer():
    folders = {folder(name) for name in modules(ROOT)}
    assert folders == set(RANK), "a new folder needs its place in LAYERS (and in docs/architecture.md)"


def test_the_package_has_no_cycles_and_its_arrows_point_down():
    assert problems(ROOT) == []


def test_no_file_passes_400_lines_and_no_function_50():
    for name, path in modules(ROOT).items():
        tree = ast.parse(source := path.read_text(encoding="utf-8"))
        assert source.count("\n") <= 400, f"{name} has {source.count(chr(10))} lines"
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno - node.lineno < 50, f"{name}.{node.name} is longer than 50 lines"


def test_the_architecture_doc_names_every_folder():
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert all(f"`{name}/`" in doc for name in RANK if name)


# ------------------------------------------------------------------ and with a violation planted


@pytest.fixture
def copy(tmp_path) -> Path:
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def plant(root: Path, module: str, code: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _planted():\n    {code}\n", encoding="utf-8")


@pytest.mark.parametrize(
    "module, code, expected",
    [
        # memory already imports the scorer, so this closes a loop within one folder
        ("pushkin_lm.model.scorer", "from pushkin_lm.model.memory import param_count", "import cycle"),
        (
            "pushkin_lm.store.checkpoint",
            "from pushkin_lm.train.recipe import TrainConfig",
            "not in a layer below",
        ),
        ("pushkin_lm.model.decoder", "import pushkin_lm.verse", "not in a layer below"),
        (
            "pushkin_lm.demo.engine",
            "from pushkin_lm.cli.common import CHECKPOINT_HELP",
            "only cli/ knows the command line",
        ),
        ("pushkin_lm.store.run", "from pushkin_lm import __version__", "not in a layer below"),
        ("pushkin_lm.train.trainer", "import matplotlib.pyplot", "imports matplotlib"),
        ("pushkin_lm.demo.engine", "import gradio", "imports gradio"),
        ("pushkin_lm.data.corpus", "from huggingface_hub import hf_hub_download", "imports huggingface_hub"),
        ("pushkin_lm.store.run", "import pickle", "unpickles"),
        ("pushkin_lm.store.checkpoint", "from torch.package import PackageImporter", "imports torch.package"),
        ("pushkin_lm.store.checkpoint", "return torch.load('x', weights_only=True)", "calls torch.load"),
        ("pushkin_lm.store.checkpoint", "from torch import load", "imports torch.load"),
    ],
)
def test_a_planted_violation_fails(copy, module, code, expected):
    assert problems(copy) == []
    plant(copy, module, code)
    found = problems(copy)
    assert found and all(module in line for line in found if expected in line)
    assert any(expected in line for line in found), found
