"""An executed notebook as one offline HTML page, and the checks that it works offline.

The ``offline`` nbconvert template (shipped in ``escalation_analysis/templates``) leaves out code
and prompts; plotly.js is embedded once by :func:`escalation_analysis.reviews.display.setup`.
:func:`check_report_html` refuses a page that would fetch anything from the network, repeats
plotly.js, or shows code.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
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
    body, _ = _exporter().from_notebook_node(nb, resources=resources)
    return body, dropped


@functools.cache
def _exporter() -> Any:
    """One exporter per process: a worker making several reports compiles the templates once."""
    return _offline_exporter_class()(
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )


def _offline_exporter_class() -> type:
    """nbconvert's HTMLExporter, finding the elements it marks up without CSS selectors.

    The stock exporter's last step parses the page into a BeautifulSoup tree, gives images
    without ``alt`` a placeholder one and makes cells' input and output areas focusable
    (``tabindex="0"``), choosing them with ``soup.select``. soupsieve compiles each selector
    into regular expressions the first time a process uses it (about 0.1 s, once per worker)
    and walks the tree once per selector; this walks it once with ``find_all``. The page is the
    same, byte for byte (tests/test_report_runner.py compares it with the stock exporter's).
    """
    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class OfflineHTMLExporter(HTMLExporter):
        def from_notebook_node(self, nb: Any, resources: dict | None = None, **kw: Any) -> tuple[str, dict]:
            # as HTMLExporter.from_notebook_node (nbconvert 7), up to the soup
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            highlight_code = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
            resources = self._init_resources(resources)
            filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                     resources=resources)
            self.register_filter("highlight_code", highlight_code)
            self.register_filter("filter_data_type", filter_data_type)
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            soup = BeautifulSoup(html, features="html.parser")
            missing_alt = 0
            for elem in soup.find_all(_marked_up):
                if elem.name == "img":
                    elem.attrs["alt"] = "No description has been provided for this image"
                    missing_alt += 1
                else:
                    elem.attrs["tabindex"] = "0"
            if missing_alt:
                self.log.warning("Alternative text is missing on %s image(s).", missing_alt)
            return str(soup), resources

    return OfflineHTMLExporter


_FOCUSABLE = ("jp-Cell-inputWrapper", "jp-OutputArea-output")


def _marked_up(tag: Any) -> bool:
    """The elements HTMLExporter's selectors choose: ``img:not([alt])``, and
    ``.jp-Notebook div.jp-Cell-inputWrapper`` and ``.jp-Notebook div.jp-OutputArea-output``."""
    if tag.name == "img":
        return "alt" not in tag.attrs
    if tag.name != "div":
        return False
    if not any(name in _classes(tag) for name in _FOCUSABLE):
        return False
    return any("jp-Notebook" in _classes(parent) for parent in tag.parents)


def _classes(tag: Any) -> list[str]:
    classes = tag.get("class") or []
    return classes.split() if isinstance(classes, str) else classes
