"""The package's four layers import only downward: ingest < measures < reviews < publish.

``docs/architecture.md`` describes the layers. A module may import its own layer and the ones
below it, never one above: the measures never know how a report looks, the reviews never
know how a report is run. ``errors`` and ``csv_writer`` sit under every layer; the command line and the
synthetic-data generator sit above them all. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "escalation_analysis"

#: Layer of each top-level part of the package, lowest first.
LAYERS = {"errors": 0, "csv_writer": 0, "ingest": 1, "measures": 2, "reviews": 3, "publish": 4, "cli": 5, "synthetic": 5,
          "__init__": 5}


def part_of(module: str) -> str:
    """The top-level part of a dotted module name inside the package (``ingest`` for ``ingest.files``)."""
    return module.split(".")[0]


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, module inside the package) for every import statement in a file, relative or absolute."""
    relative_to_package = path.relative_to(PACKAGE).with_suffix("")
    package_parts = list(relative_to_package.parts[:-1])
    if relative_to_package.name == "__init__":
        package_parts = list(relative_to_package.parts[:-1])
    tree = ast.parse(source if source is not None else path.read_text("utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - (node.level - 1)] if node.level > 1 else package_parts
                stem = ".".join([*base, node.module] if node.module else base)
                names = [stem] if node.module else [f"{stem}.{a.name}".lstrip(".") for a in node.names]
                found += [(node.lineno, name) for name in names if name]
            elif node.module and node.module.startswith("escalation_analysis."):
                found.append((node.lineno, node.module.removeprefix("escalation_analysis.")))
            elif node.module == "escalation_analysis":
                found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.removeprefix("escalation_analysis."))
                      for a in node.names if a.name.startswith("escalation_analysis.")]
    return found


def upward_imports(path: Path, source: str | None = None) -> list[str]:
    """Every import in ``path`` that reaches a layer above the file's own."""
    own = part_of(str(path.relative_to(PACKAGE).with_suffix("")).replace("/", "."))
    problems = []
    for line, module in imported_modules(path, source):
        target = part_of(module)
        if target in LAYERS and own in LAYERS and LAYERS[target] > LAYERS[own]:
            problems.append(f"{path.relative_to(PACKAGE)}:{line} imports {module} ({target} is above {own})")
    return problems


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer():
    parts = {part_of(str(p.relative_to(PACKAGE).with_suffix("")).replace("/", ".")) for p in package_files()}
    assert parts <= set(LAYERS), f"modules outside the four layers: {sorted(parts - set(LAYERS))}"


@pytest.mark.parametrize("layer", ["ingest", "measures", "reviews", "publish"])
def test_each_layer_is_a_sub_package(layer):
    assert (PACKAGE / layer / "__init__.py").is_file()


def test_no_module_imports_a_layer_above_its_own():
    problems = [problem for path in package_files() for problem in upward_imports(path)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_an_upward_import():
    """The checker itself: a measure that imports the reviews' labels, at the top or in a function."""
    measure = PACKAGE / "measures" / "timeliness.py"
    assert upward_imports(measure, "from ..reviews.labels import VALUES\n")
    assert upward_imports(measure, "def f():\n    from escalation_analysis.publish import gate\n")
    assert upward_imports(measure, "from escalation_analysis import reviews\n")
    assert not upward_imports(measure, "from ..ingest.pathway import Pathway\nfrom .statistics import x\n")
