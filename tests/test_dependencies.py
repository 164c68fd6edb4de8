"""Every package the code imports is declared, and requirements.txt agrees with pyproject.toml.

CI installs requirements.txt alone into a new virtual environment, so an undeclared import fails
there too; these tests name the missing package instead of failing somewhere deep in a run.
"""

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# The package, and the modules tests/ and bench/ import from beside them.
LOCAL = {"pushkin_lm", "conftest", "badinput", "distributed_worker", "corpus", "finetune", "gpt", "language",
         "peak_flops"}  # fmt: skip


def requirements() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    """requirements.txt's runtime lines and its test-and-lint lines, by normalised name."""
    runtime: dict[str, Requirement] = {}
    tools: dict[str, Requirement] = {}
    section = runtime
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("# tests and lint"):
            section = tools
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            section[_normalise(requirement.name)] = requirement
    return runtime, tools


def declared_in_pyproject() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements_ = [Requirement(line) for line in project["dependencies"]]
    return {_normalise(r.name): r for r in requirements_}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def imported_top_level_modules() -> set[str]:
    modules = set()
    for folder in ("pushkin_lm", "code", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return modules - LOCAL - set(sys.stdlib_module_names)


def test_requirements_and_pyproject_declare_the_same_runtime_packages():
    runtime, _ = requirements()
    pyproject = declared_in_pyproject()
    assert set(runtime) == set(pyproject)
    for name, requirement in runtime.items():
        for pinned in requirement.specifier:
            if pinned.operator == "==":  # what requirements.txt installs must satisfy the package's range
                assert pyproject[name].specifier.contains(pinned.version), (name, pinned)


def test_every_imported_package_is_declared():
    runtime, tools = requirements()
    declared = set(runtime) | set(tools)
    distributions = packages_distributions()
    for module in sorted(imported_top_level_modules()):
        assert module in distributions, f"{module} is imported but not installed"
        names = {_normalise(d) for d in distributions[module]}
        assert names & declared, f"{module} (from {names}) is imported but not in requirements.txt"


def test_numpy_is_declared_for_safetensors():
    # safetensors' torch `save` imports numpy at run time, which no `import` in our code shows.
    runtime, _ = requirements()
    assert "numpy" in runtime and "numpy" in declared_in_pyproject()
