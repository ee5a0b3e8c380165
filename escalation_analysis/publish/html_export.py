"""An executed notebook as one offline HTML page, and the checks that it works offline.

The ``offline`` nbconvert template (shipped in ``escalation_analysis/templates``) leaves out code
and prompts; plotly.js is embedded once by :func:`escalation_analysis.reviews.display.setup`.
:func:`check_report_html` refuses a page that would fetch anything from the network, repeats
plotly.js, or shows code.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from pathlib import Path
from typing import Any

from .report_errors import ReportOutputError

__all__ = ["TEMPLATE_DIR", "TEMPLATE_NAME", "check_report_html", "export_html", "report_title"]


#: Folder holding the nbconvert templates shipped with the package.
TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"


TEMPLATE_NAME = "offline"


_PLOTLYJS_BANNER = re.compile(r"\*\s*plotly\.js (?:\([^)\n]*\) )?v\d+\.\d+")  # the full or a partial bundle


_EXTERNAL_RESOURCE = re.compile(
    r"<(?:script|img|iframe|embed|source|audio|video|link|object)\b[^>]*?"
    r"\b(?:src|href|data)\s*=\s*[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)


_CODE_MARKUP = re.compile(r'class="[^"]*\b(?:jp-InputArea-editor|cm-editor|jp-InputPrompt)\b')


def check_report_html(html: str) -> int:
    """Check that a report's HTML will work offline, and count its charts.

    Checks: plotly.js is embedded at most once, and before the first chart when there
    are charts; nothing is loaded from another site (``<script src="https://...">``,
    images, stylesheets, frames); no code cells are shown.

    Parameters
    ----------
    html : str
        The report HTML.

    Returns
    -------
    int
        The number of plotly charts (``Plotly.newPlot`` calls).

    Raises
    ------
    ReportOutputError
        Naming every problem found.
    """
    problems = []
    bundles = [m.start() for m in _PLOTLYJS_BANNER.finditer(html)]
    charts = [m.start() for m in re.finditer(r"Plotly\.newPlot\(", html)]
    if len(bundles) > 1:
        problems.append(
            f"plotly.js is embedded {len(bundles)} times (show figures with "
            "escalation_analysis.reviews.display.show, which does not repeat it)"
        )
    if charts and not bundles:
        problems.append(
            "the report has charts but no plotly.js (call escalation_analysis.reviews.display.setup() "
            "in the first code cell and keep its output)"
        )
    elif charts and bundles and bundles[0] > charts[0]:
        problems.append("plotly.js comes after the first chart, which would stay blank")
    external = sorted({m.group(0)[:80] for m in _EXTERNAL_RESOURCE.finditer(html)})
    if external:
        problems.append(
            "it loads files from the network, which fails offline: " + "; ".join(external[:5])
        )
    if _CODE_MARKUP.search(html):
        problems.append("it shows code cells")
    if problems:
        raise ReportOutputError(
            "The HTML report is not fit to publish: " + "; ".join(problems) + "."
        )
    return len(charts)


def report_title(nb: Any, fallback: str) -> str:
    title = nb.metadata.get("title")
    if title:
        return str(title)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            match = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
            if match:
                return re.sub(r"[*_`]", "", match.group(1))
    return fallback


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("escalation-analysis")
    except Exception:
        return "unknown version"


def export_html(nb: Any, *, title: str, source_name: str) -> tuple[str, int]:
    """Export the executed notebook to offline HTML; return it with the stderr count."""
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    dropped = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                dropped += 1
            else:
                kept.append(output)
        cell.outputs = kept
    nb.metadata["title"] = title
    version = _package_version()
    now = _dt.datetime.now()
    exporter = HTMLExporter(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {
        "metadata": {"name": title},
        "escalation": {
            "generator": f"escalation-analysis {version}",
            "footer": (
                f"Produced on {now.day} {now:%B %Y} at {now:%H:%M} by escalation-analysis "
                f"{version} from {source_name}."
            ),
        },
    }
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body, dropped
