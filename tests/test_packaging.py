"""What is shipped: the declared requirements, and the wheel built from the checkout.

CI installs requirements-dev.txt (which takes requirements.txt) into a new virtual environment,
so an undeclared import fails there too; the requirement tests name the missing package instead of
failing somewhere deep in a run, and keep the tools of tests and the demo out of what a user who
only trains and generates installs. The wheel tests build pushkin-lm as `pip install pushkin-lm`
would get it, install it into a folder of its own, and write a few characters with its default
model from there, outside the checkout: the shipped models must travel as package data
(pyproject.toml maps checkpoints/ to pushkin_lm/shipped/), and nothing of the checkout's tests,
benchmarks or data may travel with them.
"""

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# The package, and the modules tests/ and bench/ import from beside them (any of their own files).
LOCAL = {"pushkin_lm"} | {path.stem for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py")]}
SHIPPED_MODELS = ("pushkin-lm", "ru-verse-base")
SHIPPED_FILES = ("config.json", "model.safetensors", "README.md")
PACKAGE_DATA = ("pushkin_lm/verse/lexicon.txt.xz",)  # the stress lexicon: scan without torch
# Not copied for the build: build outputs (a stale build/lib leaks into the wheel), caches, git,
# and the corpus and training runs at the top.
NOT_COPIED = {".git", "build", "data", "out", "runs"}
CACHES = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", ".hypothesis")


# ---------------------------------------------------------------------------------- requirements

# What a user who only trains and generates must not be made to install.
TOOLS_ONLY = {"pytest", "hypothesis", "ruff", "playwright", "gradio", "gradio-client", "pymorphy3"}


def requirement_lines(name: str) -> dict[str, Requirement]:
    """A requirements file's package lines by normalised name (options, -r and -e lines aside)."""
    lines = (line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines())
    found = [Requirement(line) for line in lines if line and not line.startswith("-")]
    return {_normalise(r.name): r for r in found}


def includes(name: str) -> list[str]:
    """A requirements file's -r and -e lines."""
    lines = (line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines())
    return [line for line in lines if line.startswith("-")]


def declared_in_pyproject(extra: str | None = None) -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {_normalise(r.name): r for r in map(Requirement, lines)}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def imported_top_level_modules(*folders: str) -> set[str]:
    modules = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    return modules - LOCAL - set(sys.stdlib_module_names)


def _undeclared(modules: set[str], declared: set[str]) -> list[str]:
    distributions = packages_distributions()
    missing = [module for module in sorted(modules) if module not in distributions]
    assert not missing, f"imported but not installed: {missing}"
    return [m for m in sorted(modules) if not {_normalise(d) for d in distributions[m]} & declared]


def test_a_user_installs_the_package_and_torch_only():
    # requirements.txt is what training and generating need: torch's pin and the package, whose
    # dependencies pyproject.toml declares once. The tools of tests and the demo stay out of it.
    assert set(requirement_lines("requirements.txt")) == {"torch"}
    assert includes("requirements.txt") == ["-e ."]
    (pin,) = requirement_lines("requirements.txt")["torch"].specifier
    assert pin.operator == "==" and declared_in_pyproject()["torch"].specifier.contains(pin.version)
    assert not TOOLS_ONLY & set(declared_in_pyproject())


def test_the_tools_install_on_top_of_the_users_set():
    assert includes("requirements-dev.txt") == ["-r requirements.txt", "-e .[demo]"]
    assert TOOLS_ONLY - {"gradio"} <= set(requirement_lines("requirements-dev.txt"))
    assert set(declared_in_pyproject("demo")) == {"gradio"}


def test_every_imported_package_is_declared_where_it_is_needed():
    runtime = set(declared_in_pyproject())
    # The package and its scripts need only what pyproject.toml declares (Gradio: the demo extra).
    library = imported_top_level_modules("pushkin_lm", "code") - {"gradio"}
    assert _undeclared(library, runtime) == [], "imported by the package but not in pyproject.toml"
    everything = runtime | set(declared_in_pyproject("demo")) | set(requirement_lines("requirements-dev.txt"))
    tools = imported_top_level_modules("bench", "tests") | {"gradio"}
    assert _undeclared(tools, everything) == [], "imported by tests or bench but not in requirements-dev.txt"


def test_numpy_is_declared_for_safetensors():
    # safetensors' torch `save` imports numpy at run time, which no `import` in our code shows.
    assert "numpy" in declared_in_pyproject()


def test_readme_and_ci_install_what_they_say():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "pip install -r requirements-dev.txt && python -m pytest -q" in readme
    assert "-r requirements-dev.txt" in ci and "download.pytorch.org" not in ci  # no index CI cannot reach


# ----------------------------------------------------------------------------------------- wheel


def _require_build_backend() -> None:
    """--no-build-isolation builds with this interpreter's own setuptools: say so if it has none."""
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for line in build_system["requires"]:
        requirement = Requirement(line)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            pytest.fail(f"{requirement.name}, which builds the wheel, is not installed in {sys.executable}")
        assert requirement.specifier.contains(installed), (requirement, installed)


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--quiet", "--disable-pip-version-check"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"pip {args[0]} failed:\n{done.stdout}\n{done.stderr}"


def _not_copied(folder: str, names: list[str]) -> set[str]:
    return set(CACHES(folder, names)) | (NOT_COPIED & set(names) if Path(folder) == ROOT else set())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built, once a session, from a copy of the checkout without its build outputs
    (a build in the checkout itself would leave build/ and an .egg-info there, and pick up stale
    files from an old build/lib)."""
    _require_build_backend()
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_not_copied)
    _pip("wheel", "--no-build-isolation", "--wheel-dir", str(base / "dist"), str(source), cwd=base)
    (built,) = (base / "dist").glob("pushkin_lm-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own."""
    target = tmp_path_factory.mktemp("target")
    _pip("install", "--target", str(target), str(wheel), cwd=target)
    return target


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_wheel_holds_the_package_and_the_shipped_models_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if not name.endswith("/")}
        shipped = {name: _sha256(archive.read(name)) for name in names if "/shipped/" in name}
    assert {name.split("/")[0] for name in names} == {"pushkin_lm", wheel.name.split("-py")[0] + ".dist-info"}
    for folder in ("tests", "bench", "data", "code", "docs", "checkpoints"):
        assert not any(name.startswith(f"{folder}/") for name in names), folder
    # Every module of the checkout's package and its data files, byte for byte, and no other file (a
    # subpackage missing from [tool.setuptools] packages would be missing here).
    package = {name for name in names if name.startswith("pushkin_lm/") and "/shipped/" not in name}
    checkout = {path.relative_to(ROOT).as_posix() for path in (ROOT / "pushkin_lm").rglob("*.py")}
    assert package == checkout | set(PACKAGE_DATA)
    with zipfile.ZipFile(wheel) as archive:
        assert all(archive.read(name) == (ROOT / name).read_bytes() for name in PACKAGE_DATA)
    # The shipped models, byte for byte, and no other file of checkpoints/.
    expected = {
        f"pushkin_lm/shipped/{model}/{file}": _sha256((ROOT / "checkpoints" / model / file).read_bytes())
        for model in SHIPPED_MODELS
        for file in SHIPPED_FILES
    }
    assert shipped == expected


def test_installed_wheel_writes_with_its_shipped_model(installed, tmp_path):
    script = (
        "import json, pushkin_lm\n"
        "from pushkin_lm import PushkinLM\n"
        "model = PushkinLM.from_pretrained()\n"
        "print(json.dumps({'package': pushkin_lm.__file__, 'path': str(model.path),\n"
        "                  'text': model.generate(max_tokens=20, seed=1)}))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(installed), *filter(None, [env.get("PYTHONPATH")])])
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert Path(result["package"]).resolve().is_relative_to(installed.resolve()), result["package"]
    assert Path(result["path"]).resolve() == (installed / "pushkin_lm" / "shipped" / "pushkin-lm").resolve()
    assert len(result["text"]) > 0 and result["text"].strip(), result
