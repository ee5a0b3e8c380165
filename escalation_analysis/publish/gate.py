"""The privacy gate: check a report's outputs for anything that identifies a person.

Suppression and pseudonymisation happen in the analysis, but a report is only safe to send if
its files really contain none of the export's identifiers. After every run the runner reads
the outputs (HTML text without the embedded plotly.js, PDF text, JSON, CSV) and looks for:

* always: raw service-user and staff identifiers (NHS numbers in any spacing, staff names);
* for external and partner audiences also: incident references, pseudonyms, and the free-text
  descriptions.

A report that fails the gate is not published: its files are removed and the run fails with a
message saying what kind of value leaked (never the value itself).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import EscalationAnalysisError
from ..ingest.export import _resolve_columns, read_profiled_export
from ..ingest.mapping import MappingProfile
from ..ingest.pseudonyms import pseudonymise

_PLOTLY_JS = re.compile(r"<script[^>]*>\s*/\*\*\s*\n?\s*\* plotly\.js.*?</script>", re.S)
_MIN_DESCRIPTION = 16


class PrivacyError(EscalationAnalysisError):
    """A report output contains an identifier or free text it must not."""


@dataclass
class SensitiveValues:
    """Strings from the export that must not appear in a report, by kind."""

    by_kind: dict[str, set[str]] = field(default_factory=dict)

    def kinds_for(self, audience: str) -> list[str]:
        internal = ["service user identifier", "staff identifier"]
        if audience == "internal":
            return internal
        return [*internal, "incident reference", "pseudonym", "description"]


def sensitive_values(export: str | Path, profile: MappingProfile, key: bytes) -> SensitiveValues:
    """Collect identifiers, pseudonyms and descriptions from the export (vectorised)."""
    raw = read_profiled_export(export, profile)
    columns = _resolve_columns(raw, profile, Path(export).name)

    def values(field_name: str) -> pd.Series:
        names = columns.get(field_name)
        if not names:
            return pd.Series([], dtype="str")
        return raw.cells[names[0]].dropna().astype("str")

    found: dict[str, set[str]] = {}
    people = values("service_user_id")
    digits = people.str.replace(r"[\s\-]", "", regex=True)
    found["service user identifier"] = set(people[people.str.len() >= 6]) | set(digits[digits.str.len() >= 6])
    staff = values("staff_id")
    found["staff identifier"] = set(staff[staff.str.len() >= 4])
    found["incident reference"] = set(values("incident_id")[values("incident_id").str.len() >= 4])
    found["pseudonym"] = set(pseudonymise(people, "service_user_id", key).dropna()) | set(
        pseudonymise(staff, "staff_id", key).dropna()
    )
    descriptions = values("description")
    descriptions = descriptions[descriptions.str.len() >= _MIN_DESCRIPTION]
    found["description"] = set(descriptions.str.slice(0, 40))
    return SensitiveValues(found)


def output_texts(folder: str | Path, paths: list[Path] | None = None) -> dict[str, str]:
    """The readable text of each report output in a folder (HTML without plotly.js, PDF text).

    ``paths`` limits the reading to files a run wrote (e.g. by ``summary`` into a folder
    that holds other things too).
    """
    folder = Path(folder)
    texts: dict[str, str] = {}
    for path in sorted(paths if paths is not None else folder.rglob("*")):
        if path.suffix in (".json", ".csv"):
            texts[str(path.relative_to(folder))] = path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".html":
            html = path.read_text(encoding="utf-8", errors="replace")
            texts[str(path.relative_to(folder))] = _PLOTLY_JS.sub("", html)
        elif path.suffix == ".ipynb":
            texts[str(path.relative_to(folder))] = _notebook_text(path)
        elif path.suffix == ".pdf" and shutil.which("pdftotext"):
            result = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=False)
            texts[str(path.relative_to(folder))] = result.stdout
    return texts


def _notebook_text(path: Path) -> str:
    """Sources and outputs of an executed notebook, leaving out the embedded plotly.js."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    parts = []
    for cell in notebook.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for output in cell.get("outputs", []):
            for value in output.get("data", {}).values():
                text = "".join(value) if isinstance(value, list) else str(value)
                if "plotly.js" not in text[:2000]:
                    parts.append(text)
            parts.append("".join(output.get("text", "")))
    return "\n".join(parts)


def find_leaks(texts: dict[str, str], sensitive: SensitiveValues, audience: str) -> list[tuple[str, str]]:
    """(file, kind) pairs where a sensitive value of a forbidden kind appears."""
    leaks = []
    for kind in sensitive.kinds_for(audience):
        for name, text in texts.items():
            if any(value in text for value in sensitive.by_kind.get(kind, ())):
                leaks.append((name, kind))
    return leaks


def check_outputs(
    folder: str | Path, sensitive: SensitiveValues, audience: str, *, remove: bool = True,
    paths: list[Path] | None = None,
) -> None:
    """Raise :class:`PrivacyError` (removing the outputs) if a forbidden value appears."""
    leaks = find_leaks(output_texts(folder, paths), sensitive, audience)
    if not leaks:
        return
    if remove:  # the leaking files, and a report's HTML and PDF made from the same run
        names = {name for name, _ in leaks} | ({"report.html", "report.pdf"} if paths is None else set())
        for name in names:
            (Path(folder) / name).unlink(missing_ok=True)
    where = "; ".join(sorted({f"a {kind} in {name}" for name, kind in leaks}))
    raise PrivacyError(f"The {audience} report was not published because its outputs contain {where}.")
