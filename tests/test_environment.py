"""pyproject.toml is the single source of dependencies: environment.yml and the lock must agree with it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# pip name -> conda-forge name(s) where they differ
CONDA_NAMES = {"duckdb": ["python-duckdb"], "dask": ["dask", "distributed"]}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _runtime_requirements() -> list[Requirement]:
    return [Requirement(r) for r in _pyproject()["project"]["dependencies"]]


def _conda_env() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep["pip"])
            continue
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", dep)
        assert m, f"unparseable conda dependency {dep!r}"
        conda[canonicalize_name(m.group(1))] = m.group(2).replace(" ", "")
    return conda, pip


def test_environment_pins_python_311_from_conda_forge() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"][0] == "conda-forge"
    conda, _ = _conda_env()
    assert conda["python"] == "=3.11"
    assert _pyproject()["project"]["requires-python"].startswith(">=3.11")


def test_every_runtime_dependency_is_in_environment_yml_with_the_same_specifier() -> None:
    conda, pip = _conda_env()
    pip_reqs = {canonicalize_name(Requirement(p).name): Requirement(p) for p in pip if not p.startswith("-")}
    for req in _runtime_requirements():
        name = canonicalize_name(req.name)
        if name in pip_reqs:
            assert pip_reqs[name].specifier == req.specifier, f"{name}: pip section disagrees"
            continue
        for conda_name in CONDA_NAMES.get(name, [name]):
            assert conda_name in conda, f"{req} from pyproject.toml is missing in environment.yml"
            assert conda[conda_name] == str(req.specifier) or set(conda[conda_name].split(",")) == {
                str(s) for s in req.specifier
            }, f"{conda_name}: environment.yml has {conda[conda_name]!r}, pyproject.toml {req.specifier}"


def test_environment_yml_has_nothing_pyproject_lacks() -> None:
    conda, pip = _conda_env()
    known = {"python", "pip"}
    for req in _runtime_requirements():
        known.update(CONDA_NAMES.get(canonicalize_name(req.name), [canonicalize_name(req.name)]))
    extra = set(conda) - known
    assert not extra, f"environment.yml lists {sorted(extra)} which pyproject.toml does not declare"
    assert "-e .[dev]" in pip, "the pip section must install the project itself"


def test_lock_pins_every_declared_dependency_exactly() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    pins = {}
    for line in lock.splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    declared = _runtime_requirements() + [
        Requirement(r) for r in _pyproject()["project"]["optional-dependencies"]["dev"]
    ]
    for req in declared:
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is declared in pyproject.toml but not pinned in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's {req.specifier}: run `make lock`"
        )
