"""``summary.json`` and its CSV tables: the machine-readable result of a review.

The JSON keys are a contract with users' scripts (``docs/definitions.md`` lists them). Audience rules are
applied here, not left to good intentions:

* ``internal``: full figures, row numbers of excluded rows, pseudonyms allowed in tables;
* ``external`` and ``partners``: every figure from the disclosure plan
  (:mod:`~escalation_analysis.reviews.disclosure`): 1 to 7 shown as "*", other counts rounded
  to the nearest 5 by default, withheld figures "[c]" and their rates null, the policy and
  its key under ``disclosure``; no row numbers, no incident references, no pseudonyms, no
  free text.

CSV cells that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``) are
prefixed with an apostrophe, so a hostile value cannot run in Excel.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .. import __version__
from ..measures.adherence import adherence_summary, episode_adherence
from ..measures.agencies import agency_responses, handoff_delays, handoff_summary, response_by_agency
from ..measures.analysis import Analysis
from ..measures.comparisons import compare_factor, share_by_target
from ..measures.equity import available_equity_fields, equity_table
from ..measures.learning import action_status, action_summary, training_association
from ..measures.timeliness import TimelinessTables, timeliness_summary
from .labels import routes_for_readers

if TYPE_CHECKING:  # the disclosure plans are imported by outside summaries only, when they are made
    from .disclosure import DisclosurePlan, DisclosurePolicy

Audience = Literal["internal", "external", "partners"]
AUDIENCES = ("internal", "external", "partners")
TIMELINESS_TABLES = {
    "timeliness_overall": None,
    "timeliness_by_team": "team",
    "timeliness_by_band": "band",
    "timeliness_by_ooh_sub_band": "ooh_sub_band",
    "timeliness_by_trigger": "trigger",
    "timeliness_by_lone_worker": "lone_worker",
    "timeliness_by_quarter": "quarter",
    "timeliness_by_month": "month",
    "timeliness_by_agency": "escalated_to",
}


@dataclass
class Summary:
    """The summary object (``data``) and its tables, already made safe for the audience."""

    data: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def write(self, json_path: str | Path) -> list[Path]:
        """Write ``summary.json`` and ``tables/*.csv`` beside it; returns the paths written.

        External and partner figures are written as the reports display them (one decimal
        place, p-values three): more digits add nothing for the reader, and long digit runs
        are where a reference number could seem to appear.
        """
        external = self.data.get("audience", "internal") != "internal"
        json_path = Path(json_path)
        json_path.parent.mkdir(parents=True, exist_ok=True)
        data = _displayed(self.data) if external else _jsonable(self.data)
        json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written = [json_path]
        table_dir = json_path.parent / "tables"
        table_dir.mkdir(exist_ok=True)
        for name, table in self.tables.items():
            path = table_dir / f"{name}.csv"
            rounded = table.assign(**{
                c: _rounded(table[c], _places(str(c), external)) for c in table.columns
            })
            safe_csv_frame(rounded).to_csv(path, index=False, encoding="utf-8")
            written.append(path)
        return written


#: Decimal places of external figures, as displayed: one, ratios two, p-values three.
DISPLAYED_PLACES = 1
RATIO_PLACES = 2
P_VALUE_PLACES = 3


def _places(name: str, external: bool) -> int:
    if "p_value" in name:
        return P_VALUE_PLACES
    if not external or name.endswith("ratio") or name in ("relative_risk", "rank_biserial"):
        return RATIO_PLACES
    return DISPLAYED_PLACES


def _rounded(column: pd.Series, places: int) -> pd.Series:
    """Numbers rounded to ``places``; counts, text and suppression markers (``*``) unchanged."""
    if pd.api.types.is_bool_dtype(column):
        return column
    if pd.api.types.is_numeric_dtype(column):
        return column.round(places)
    if column.dtype != object:
        return column
    numbers = pd.to_numeric(column, errors="coerce")
    fractional = numbers.notna() & (numbers % 1 != 0)
    return column.where(~fractional, numbers.round(places)) if fractional.any() else column


def _displayed(value: Any, key: str = "") -> Any:
    """The summary as external readers see it: every number to its displayed places."""
    if isinstance(value, dict):
        return {str(k): _displayed(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_displayed(v, key) for v in value]
    value = _jsonable(value)
    if isinstance(value, float):
        return round(value, _places(key, True))
    return value


def build_summary(
    analysis: Analysis,
    *,
    report: str = "summary",
    audience: Audience = "internal",
    policy: DisclosurePolicy | str | None = None,
    plan: DisclosurePlan | None = None,
) -> Summary:
    """Compute every KPI for the period and apply the audience's rules.

    For external and partner readers every figure comes from the disclosure plan of the
    analysis (``plan``, or the one :func:`~escalation_analysis.reviews.disclosure.plan_for`
    builds under ``policy``, by default the audience's): the same figures, shown the same way,
    as every other output of that export and period.
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}")
    header = {
        "report": report,
        "audience": audience,
        "period": {"start": analysis.start.isoformat(), "end": analysis.end.isoformat()},
        "pathway": analysis.pathway.name,
        "generated_by": f"escalation-analysis {__version__}",
    }
    if audience != "internal":
        from .disclosure import DisclosurePolicy, plan_for, policy_for, published

        if plan is None:
            chosen = policy if isinstance(policy, DisclosurePolicy) else policy_for(audience, policy)
            plan = plan_for(analysis, chosen)
        return Summary(_jsonable({**header, **published.summary_sections(analysis, plan)}), published.csv_tables(plan))
    episodes = analysis.episodes
    steps = analysis.steps.frame if analysis.steps is not None else None
    data: dict[str, Any] = {**header, "data_quality": analysis.accounting.to_dict(with_rows=True)}
    # The four families of figures read the same episodes and nothing of each other, and most of
    # their time is spent in numpy, pandas and Arrow kernels that let go of the GIL, so on two
    # threads they overlap. Each family is computed exactly as before and assembled below in the
    # same order.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="summary") as pool:
        timeliness = pool.submit(_timeliness_figures, episodes)
        comparisons = pool.submit(_comparisons, analysis)
        target_shares = pool.submit(share_by_target, episodes, "band", analysis.as_of)
        agencies = pool.submit(_agency_figures, analysis, steps)
        data["timeliness"], tables = timeliness.result()
        data["near_misses"] = {"n": int((episodes["outcome"] == "near_miss").sum()),
                               "incidents": int((episodes["outcome"] == "incident").sum())}
        data["comparisons"] = comparisons.result()
        shares = target_shares.result()
        agency_table, handoffs = agencies.result()
    tables["share_escalated_by_target"] = shares
    data["time_to_escalation"] = {
        f"{r.trigger}|{r.band}": round(float(r.share_escalated_pct), 1) for r in shares.itertuples()
    } if not shares.empty else {}

    if steps is not None:
        adherence = episode_adherence(episodes, steps, analysis.pathway)
        tables["adherence"] = adherence_summary(adherence)
        data["adherence"] = {
            row["check"]: {"checked": row["checked"], "passed": row["passed"], "passed_pct": row["passed_pct"]}
            for _, row in tables["adherence"].iterrows()
        }
        data["step_log"] = analysis.steps.to_dict()
    tables["agency_response"] = agency_table
    data["multi_agency"] = {
        row["agency"]: {k: row[k] for k in ("contacts", "responses_recorded", "median_minutes", "p90_minutes", "within_target_pct")}
        for _, row in tables["agency_response"].iterrows()
    }
    tables["handoffs"] = handoffs

    if analysis.actions is not None:
        status = action_status(analysis.actions.frame, episodes, analysis.as_of)
        data["learning_actions"] = action_summary(status)
        tables["learning_actions"] = status.drop(columns=["linked"])
    if analysis.training is not None:
        association = training_association(episodes, analysis.training.frame)
        tables["timeliness_by_training"] = association["table"]
        data["training"] = {"caveat": association["caveat"]}
        if "compliance" in association:
            data["training"]["compliance"] = association["compliance"].wording
            data["training"]["delay"] = association["delays"].wording
    tables["excluded_rows"] = analysis.accounting.excluded
    tables["warnings"] = analysis.accounting.warnings
    return Summary(_jsonable(data), tables)


def _timeliness_figures(episodes: pd.DataFrame) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """summary.json's ``timeliness`` object and the timeliness and equity tables, in table order.

    One :class:`TimelinessTables` serves them all (the delays sorted once), so they stay together
    on one thread.
    """
    timeliness_tables = TimelinessTables(episodes)
    timeliness = timeliness_summary(episodes, tables=timeliness_tables)
    tables = {name: timeliness_tables.table(by) for name, by in TIMELINESS_TABLES.items()}
    for field_name in available_equity_fields(episodes):
        tables[f"timeliness_by_{field_name}"] = equity_table(episodes, field_name, tables=timeliness_tables)
    return timeliness, tables


def _agency_figures(analysis: Analysis, steps: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The response-by-agency table and the hand-offs table (routes as readers see them)."""
    table = response_by_agency(agency_responses(analysis.episodes, steps), analysis.pathway)
    handoffs = handoff_summary(handoff_delays(analysis.episodes, steps))
    handoffs["handoff"] = routes_for_readers(handoffs["handoff"])
    return table, handoffs


def _comparisons(analysis: Analysis) -> dict[str, Any]:
    """Out of hours vs in hours and lone vs accompanied: wording, p-values, effect sizes."""
    result = {}
    for factor in ("band", "lone_worker"):
        comparisons = compare_factor(analysis.episodes, factor, analysis.as_of)
        result[factor] = {
            name: {"test": c.test, "p_value": c.p_value, "wording": c.wording,
                   "effects": {k: e.value for k, e in c.effects.items()}}
            for name, c in comparisons.items()
        }
    return result


def safe_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would execute as a formula with an apostrophe."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            text = out[column].astype("str")
            risky = text.str.match(r"^[=+\-@\t\r]").fillna(False).astype(bool)
            if risky.any():
                out[column] = out[column].astype(object).where(~risky, "'" + text)
    return out


def _jsonable(value: Any) -> Any:
    """Plain JSON: numpy numbers to Python, NaN/inf to null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 3)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    return value
