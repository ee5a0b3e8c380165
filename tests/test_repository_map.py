"""The README's repository map and the package's docstrings point at things that exist.

A newcomer finds their way by the README's map and by the files docstrings cite: the map
must list every module of the package (and nothing that is gone), and a docstring or
comment may cite only files in this repository.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "escalation_analysis"


def mapped_modules(readme: str) -> set[str]:
    """Module paths (``ingest/files.py``) listed in the README's map of ``escalation_analysis/``."""
    block = readme.split("```\nescalation_analysis/", 1)[1].split("```", 1)[0]
    folders: list[str] = []
    found: set[str] = set()
    for line in block.splitlines()[1:]:
        words = line.split("<-", 1)[0]
        if not words.strip():
            continue
        depth = (len(words) - len(words.lstrip(" "))) // 2 - 1
        if depth < 0:  # back at the repository's top level
            break
        folders = folders[:depth]
        for token in words.split():
            if token.endswith("/"):
                folders.append(token.rstrip("/"))
            elif token.endswith(".py"):
                found.add("/".join([*folders, token]))
    return found


def package_modules() -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}


def test_the_readme_map_lists_every_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mapped, actual = mapped_modules(readme), package_modules()
    missing, gone = sorted(actual - mapped), sorted(mapped - actual)
    assert not missing, f"add these modules to README's repository map, with a line saying what each is for: {missing}"
    assert not gone, f"README's repository map lists modules that no longer exist: {gone}"


def test_the_map_reader_reads_nested_folders():
    block = "```\nescalation_analysis/   <- x\n  cli.py  <- y\n  ingest/  <- z\n    files.py a.py <- w\n  b.py\nnotebooks/\n```"
    assert mapped_modules(block) == {"cli.py", "ingest/files.py", "ingest/a.py", "b.py"}


CITED = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.(?:md|py|ya?ml|ipynb))\b")


def cited_paths(text: str) -> set[str]:
    """File paths a docstring or comment names with a folder (``docs/x.md``) or as a document (``x.md``)."""
    return {m for m in CITED.findall(text) if "/" in m or m.endswith(".md")}


def test_docstrings_cite_only_files_in_this_repository():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for cited in cited_paths(path.read_text(encoding="utf-8")):
            candidates = [ROOT / cited, PACKAGE / cited, ROOT / "docs" / cited]
            if not any(c.exists() for c in candidates):
                missing.append(f"{path.relative_to(ROOT)} cites {cited}")
    assert not missing, "\n".join(missing)


def test_the_citation_check_would_see_a_file_outside_the_repository():
    assert cited_paths("see ``shared/docs/product.md`` section 2") == {"shared/docs/product.md"}
    assert cited_paths("as product.md says") == {"product.md"}
    assert cited_paths("the display.py helpers") == set()  # a module name, not a citation
