"""Escalation timeliness against the local pathway: delays, targets, compliance.

Definitions are the contract in ``shared/docs/product.md`` section 3:

* **Delay to escalate**: real elapsed minutes from ``risk_identified_at`` to ``escalated_at``
  (timestamps are timezone-aware, so the clocks changing is handled by subtraction).
* **Band**: in or out of hours when risk was identified (:mod:`~escalation_analysis.hours`).
* **Within target**: escalated and delay <= the trigger's target for that band. No
  escalation recorded counts as *not* within target and is reported on its own line.
* **Compliance**: within target / episodes, with a Wilson 95% interval.
* **Quarter**: NHS financial quarters (Q1 = April to June), labelled ``2025/26 Q1``.

Everything is a groupby over columns: no loops over episodes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .accounting import RowAccounting, make_issues
from .hours import classify_hours
from .pathway import Pathway
from .statistics import wilson_interval
from .targets import target_minutes

GROUPINGS = {
    "team": "team",
    "trigger": "trigger",
    "band": "band",
    "ooh_sub_band": "ooh_sub_band",
    "lone_worker": "lone_worker_label",
    "month": "month",
    "quarter": "quarter",
    "escalated_to": "escalated_to",
}
"""Names a user can group by, and the prepared column each one reads."""

TABLE_COLUMNS = (
    "n", "within_target", "not_within_target", "escalated_late", "not_escalated",
    "within_target_pct", "ci95_low_pct", "ci95_high_pct", "escalated",
    "median_delay_minutes", "p90_delay_minutes",
)


def financial_quarter(timestamps: pd.Series) -> pd.Series:
    """NHS financial quarter labels such as ``2025/26 Q1`` (April to June is Q1)."""
    year = timestamps.dt.year
    month = timestamps.dt.month
    start_year = year.where(month >= 4, year - 1)
    quarter = ((month - 4) % 12) // 3 + 1
    label = (
        start_year.astype("Int64").astype("str")
        + "/"
        + ((start_year + 1) % 100).astype("Int64").astype("str").str.zfill(2)
        + " Q"
        + quarter.astype("Int64").astype("str")
    )
    return label.where(timestamps.notna())


def prepare_episodes(episodes: pd.DataFrame, pathway: Pathway) -> pd.DataFrame:
    """Add band, target, delay and within-target columns to loaded episodes.

    Returns a new frame (the input is not changed) with extra columns: ``band``,
    ``ooh_sub_band``, ``bank_holiday``, ``target_minutes``, ``escalated``,
    ``delay_minutes`` (missing when not escalated), ``within_target``,
    ``response_minutes``, ``month`` (``2025-04``), ``quarter`` (``2025/26 Q1``) and
    ``lone_worker_label``.
    """
    out = episodes.copy()
    local_risk = out["risk_identified_at"].dt.tz_convert(pathway.timezone)
    out = pd.concat([out, classify_hours(local_risk, pathway)], axis=1)
    out["target_minutes"] = target_minutes(out["trigger"], out["band"], pathway)
    out["escalated"] = out["escalated_at"].notna()
    out["delay_minutes"] = (out["escalated_at"] - out["risk_identified_at"]).dt.total_seconds() / 60
    out["within_target"] = (out["escalated"] & (out["delay_minutes"] <= out["target_minutes"])).astype(bool)
    out["response_minutes"] = (out["responded_at"] - out["escalated_at"]).dt.total_seconds() / 60
    out["month"] = local_risk.dt.strftime("%Y-%m")
    out["quarter"] = financial_quarter(local_risk)
    out["lone_worker_label"] = out["lone_worker"].map({True: "lone worker", False: "accompanied"}).astype("str").fillna("not recorded")
    return out


def filter_period(
    episodes: pd.DataFrame, accounting: RowAccounting, start: dt.date, end: dt.date, timezone: str = "Europe/London"
) -> tuple[pd.DataFrame, RowAccounting]:
    """Keep episodes whose risk was identified between ``start`` and ``end`` inclusive.

    Episodes outside the period are excluded with reason ``outside_period``, so the row
    accounting still balances against the file.
    """
    local_day = episodes["risk_identified_at"].dt.tz_convert(timezone).dt.date
    inside = ((local_day >= start) & (local_day <= end)).to_numpy()
    outside = make_issues(
        ~inside, episodes["row"], episodes["incident_id"], "outside_period", "risk_identified_at",
        f"outside {start:%d/%m/%Y} to {end:%d/%m/%Y}",
    )
    return episodes[inside].reset_index(drop=True), accounting.exclude(outside)


def compliance_table(prepared: pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """Timeliness figures overall or per group.

    Parameters
    ----------
    prepared
        Output of :func:`prepare_episodes`.
    by
        None for one overall row, or names from :data:`GROUPINGS` (e.g. ``"team"``,
        ``["team", "quarter"]``) or of any other column of ``prepared``. ``escalated_to`` counts an episode once for each agency
        contacted.

    Returns
    -------
    DataFrame
        One row per group with :data:`TABLE_COLUMNS`: ``n`` episodes, ``within_target``,
        ``not_within_target`` (late + not escalated), ``escalated_late``, ``not_escalated``,
        ``within_target_pct`` with its Wilson 95% interval, and median and 90th-percentile
        delay among escalated episodes (linear interpolation).
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    columns = [GROUPINGS.get(k, k) for k in keys]
    frame = prepared
    if "escalated_to" in columns:
        frame = prepared.explode("escalated_to") if prepared["escalated_to"].dtype == object else _explode_list(prepared, "escalated_to")
    work = pd.DataFrame(
        {
            "within": frame["within_target"].astype(int),
            "escalated": frame["escalated"].astype(int),
            "late": (frame["escalated"] & ~frame["within_target"]).astype(int),
            "delay": frame["delay_minutes"],
        }
    )
    for key, column in zip(keys, columns):
        values = frame[column]
        work[key] = values.astype("str") if isinstance(values.dtype, pd.CategoricalDtype) else values
    if keys:
        grouped = work.groupby(keys, observed=True, sort=True, dropna=False)
        counts = grouped.agg(
            n=("within", "size"), within_target=("within", "sum"),
            escalated=("escalated", "sum"), escalated_late=("late", "sum"),
        )
        quantiles = grouped["delay"].quantile([0.5, 0.9]).unstack()
    else:
        counts = pd.DataFrame(
            {"n": [len(work)], "within_target": [work["within"].sum()],
             "escalated": [work["escalated"].sum()], "escalated_late": [work["late"].sum()]}
        )
        quantiles = pd.DataFrame({0.5: [work["delay"].quantile(0.5)], 0.9: [work["delay"].quantile(0.9)]})
    table = counts.copy()
    table["not_escalated"] = table["n"] - table["escalated"]
    table["not_within_target"] = table["n"] - table["within_target"]
    low, high = wilson_interval(table["within_target"].to_numpy(), table["n"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        table["within_target_pct"] = 100 * table["within_target"] / table["n"]
    table["ci95_low_pct"] = 100 * np.asarray(low)
    table["ci95_high_pct"] = 100 * np.asarray(high)
    table["median_delay_minutes"] = quantiles[0.5].to_numpy() if len(quantiles) else np.nan
    table["p90_delay_minutes"] = quantiles[0.9].to_numpy() if len(quantiles) else np.nan
    table = table[list(TABLE_COLUMNS)]
    int_columns = ["n", "within_target", "not_within_target", "escalated_late", "not_escalated", "escalated"]
    table[int_columns] = table[int_columns].astype("int64")
    return table.reset_index() if keys else table.reset_index(drop=True)


def _explode_list(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per list element (episodes with an empty or missing list are dropped)."""
    lengths = frame[column].list.len().fillna(0).astype(int).to_numpy()
    repeated = frame.loc[frame.index.repeat(lengths)].copy()
    repeated[column] = frame[column].list.flatten().to_numpy()
    return repeated


def group_entry(row: pd.Series) -> dict:
    """One table row as the JSON group entry of product.md section 4."""
    def number(value):
        return None if pd.isna(value) else round(float(value), 1)

    return {
        "n": int(row["n"]),
        "within_target": int(row["within_target"]),
        "within_target_pct": number(row["within_target_pct"]),
        "ci95_pct": [number(row["ci95_low_pct"]), number(row["ci95_high_pct"])],
        "not_escalated": int(row["not_escalated"]),
        "median_delay_minutes": number(row["median_delay_minutes"]),
        "p90_delay_minutes": number(row["p90_delay_minutes"]),
    }


def timeliness_summary(prepared: pd.DataFrame) -> dict:
    """The ``timeliness`` object of summary.json: overall and the standard breakdowns."""
    result: dict = {"overall": group_entry(compliance_table(prepared).iloc[0])}
    for key in ("band", "team", "trigger", "ooh_sub_band", "lone_worker", "quarter"):
        table = compliance_table(prepared, key)
        result[f"by_{key}"] = {str(row[key]): group_entry(row) for _, row in table.iterrows()}
    return result
