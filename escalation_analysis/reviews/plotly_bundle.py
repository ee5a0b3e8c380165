"""The plotly.js that reports embed: plotly's official cartesian bundle, vendored.

A report must open offline with every chart drawn, so plotly.js travels inside the HTML. The
full library (4.8 MB) carries maps, 3-D, finance and other chart types the reports never draw;
plotly's own "cartesian" partial bundle (``plotly.js-cartesian-dist-min`` on the npm registry,
MIT licence, in ``resources/`` beside ``plotly-cartesian.LICENSE``) holds the trace types the
reports use and is 1.5 MB. ``tests/test_charts.py`` checks that every trace type a chart builder
draws is in it.

To refresh it after upgrading plotly: ``npm pack plotly.js-cartesian-dist-min@VERSION`` with the
plotly.js version of the installed plotly (``plotly.offline.get_plotlyjs_version()``), and copy
``plotly-cartesian.min.js`` and ``LICENSE`` over the files in ``resources/``.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_RESOURCE = "resources/plotly-cartesian.min.js"


@functools.cache
def plotlyjs() -> str:
    """The bundle's source, as the report embeds it."""
    return resources.files("escalation_analysis").joinpath(_RESOURCE).read_text("utf-8")


def version() -> str:
    """The bundle's plotly.js version, from its banner (``plotly.js (cartesian - minified) v4.1.1``)."""
    found = re.search(r"\* plotly\.js \([^)]*\) v(\d+\.\d+\.\d+)", plotlyjs()[:500])
    return found.group(1) if found else ""


@functools.cache
def trace_types() -> frozenset[str]:
    """The trace types the bundle registers (``scatter``, ``bar``, ``box``, ``heatmap``...)."""
    return frozenset(re.findall(r'moduleType:"trace",name:"(\w+)"', plotlyjs()))
