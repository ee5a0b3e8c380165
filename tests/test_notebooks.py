"""The report notebooks: clean in git, in step with their .py twins, and free of logic.

nbval runs every notebook (``pytest`` collects ``notebooks/``); these tests check what nbval
cannot: that committed notebooks carry no outputs, that the jupytext ``py:percent`` twins
match, that the parameters cell holds only literals papermill can override, and that code
cells only call into the package.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jupytext
import papermill
import pytest

from escalation_analysis.publish.review_runs import KINDS

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
COMMON = {"inputs", "start", "end", "audience"}


def test_every_report_kind_has_a_notebook():
    assert {p.name for p in ALL} == {k.notebook for k in KINDS.values()}


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_notebook_matches_its_py_twin(path):
    twin = jupytext.read(path.with_suffix(".py"))
    notebook = jupytext.read(path)
    assert [(c.cell_type, c.source) for c in twin.cells] == [(c.cell_type, c.source) for c in notebook.cells]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_parameters_cell_holds_only_literals(path):
    notebook = jupytext.read(path)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)  # raises if a default is computed
    declared = set(papermill.inspect_notebook(str(path)))
    assert declared >= COMMON


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_code_cells_only_call_into_the_package(path):
    """No functions, classes, loops or data wrangling in a notebook: that lives in the package."""
    notebook = jupytext.read(path)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.Lambda)), cell.source
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert module.startswith("escalation_analysis"), f"{path.name} imports {module}"
