"""The two install routes stay in step: pip (pyproject.toml) and conda (environment.yml).

Same packages (runtime and every extra: test, lab, mutation), same minimum versions, the same
Python, and the conda route installs the package itself. Names are compared normalised (PEP 503), so
``PyYAML`` and ``pyyaml`` are the same package.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
# conda-forge names that differ from the pip names (none today; e.g. "pytables": "tables").
CONDA_TO_PIP: dict[str, str] = {}
NOT_PACKAGES = {"python", "pip"}  # in environment.yml, but not dependencies of the package


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def minimum(specifier: SpecifierSet) -> Version | None:
    """The lowest version a specifier allows (from >=, == or ~=), or None."""
    floors = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=", "===")]
    return max(floors) if floors else None


def pip_requirements(pyproject: dict) -> dict[str, Version | None]:
    project = pyproject["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():  # test, lab, mutation...
        lines += extra
    out: dict[str, Version | None] = {}
    for line in lines:
        requirement = Requirement(line)
        out[normalise(requirement.name)] = minimum(requirement.specifier)
    return out


def conda_requirements(environment: dict) -> tuple[dict[str, Version | None], list[str], str | None]:
    """Conda packages (name -> minimum), the pip sub-list, and the python spec."""
    packages: dict[str, Version | None] = {}
    pip: list[str] = []
    python = None
    for item in environment["dependencies"]:
        if isinstance(item, dict):
            pip += item.get("pip", [])
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", str(item))
        assert match, f"environment.yml: cannot read {item!r}"
        name, spec = match[1], match[2]
        if name == "python":
            python = spec
            continue
        if name in NOT_PACKAGES:
            continue
        if spec.startswith("=") and not spec.startswith("=="):
            spec = "==" + spec.lstrip("=")  # conda's python=3.11 style
        packages[normalise(CONDA_TO_PIP.get(name, name))] = minimum(SpecifierSet(spec.replace(" ", "")))
    return packages, pip, python


def differences(pip: dict[str, Version | None], conda: dict[str, Version | None]) -> list[str]:
    """Human-readable differences between the two routes (empty when in step)."""
    problems = [f"{name} is in pyproject.toml but not environment.yml" for name in sorted(pip.keys() - conda.keys())]
    problems += [f"{name} is in environment.yml but not pyproject.toml" for name in sorted(conda.keys() - pip.keys())]
    problems += [
        f"{name}: pyproject.toml needs >= {pip[name]}, environment.yml >= {conda[name]}"
        for name in sorted(pip.keys() & conda.keys())
        if pip[name] != conda[name]
    ]
    return problems


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))


def test_same_packages_and_minimum_versions(pyproject, environment):
    conda, _, _ = conda_requirements(environment)
    assert differences(pip_requirements(pyproject), conda) == []


def test_every_requirement_has_a_minimum_version(pyproject):
    unpinned = [name for name, floor in pip_requirements(pyproject).items() if floor is None]
    assert unpinned == []


def test_same_python(pyproject, environment):
    _, _, python = conda_requirements(environment)
    assert python, "environment.yml must name a python version"
    conda_python = Version(python.lstrip("=<>~ "))
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    assert conda_python in requires
    assert conda_python.release[:2] == minimum(requires).release[:2], "conda should test the oldest supported Python"
    target = pyproject["tool"]["ruff"]["target-version"]
    assert target == f"py{conda_python.major}{conda_python.minor}"


def test_conda_route_installs_the_package(environment):
    _, pip, _ = conda_requirements(environment)
    assert pip == ["-e ."]


def test_differences_are_reported():
    """The comparison itself can fail: a missing package and a different floor are caught."""
    pip = {"pandas": Version("3.0"), "plotly": Version("6.0"), "pytest": Version("8")}
    conda = {"pandas": Version("2.2"), "plotly": Version("6.0"), "jupyterlab": Version("4.2")}
    assert differences(pip, conda) == [
        "pytest is in pyproject.toml but not environment.yml",
        "jupyterlab is in environment.yml but not pyproject.toml",
        "pandas: pyproject.toml needs >= 3.0, environment.yml >= 2.2",
    ]
    packages, _, python = conda_requirements({"dependencies": ["python=3.12", "PyYAML>=6.0", "pip", {"pip": ["-e ."]}]})
    assert packages == {"pyyaml": Version("6.0")} and python == "=3.12"
