"""Is a difference real? Out of hours vs in hours, lone vs accompanied, team vs the rest.

Three views of the same question, each with an effect size and plain-English wording that
does not overclaim on small numbers (:mod:`~escalation_analysis.measures.statistics`):

* delay among escalated episodes (Mann-Whitney, ratio of medians);
* time to escalate with not-yet-escalated episodes censored (log-rank, Kaplan-Meier);
* compliance (chi-square or Fisher, difference in percentage points).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ..ingest.contract import as_text, text_is
from .statistics import (
    Comparison,
    compare_delays,
    compare_proportions,
    compare_time_to_escalation,
    kaplan_meier,
    share_escalated_by,
)

FACTORS = {
    "band": ("band", "in_hours", "out_of_hours", "in hours", "out of hours"),
    "lone_worker": ("lone_worker_label", "accompanied", "lone worker", "for accompanied staff", "for lone workers"),
}
"""Factor name -> (column, reference value, comparison value, reference label, comparison label)."""


def time_to_escalate(prepared: pd.DataFrame, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Minutes to escalation, or to the end of follow-up (``as_of`` end of day) when not escalated."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    end = end.tz_localize(prepared["risk_identified_at"].dt.tz)
    follow_up = (end - prepared["risk_identified_at"]).dt.total_seconds() / 60
    observed = prepared["escalated"].to_numpy(dtype=bool)
    durations = np.where(observed, prepared["delay_minutes"].to_numpy(dtype=float), follow_up.to_numpy(dtype=float))
    return np.clip(durations, 0, None), observed


_SURVIVAL_COLUMNS = ["risk_identified_at", "escalated", "delay_minutes"]
"""What :func:`time_to_escalate` reads: comparisons carry only these, not whole episodes."""


def escalation_curves(prepared: pd.DataFrame, by: str | None, as_of: dt.date) -> pd.DataFrame:
    """Kaplan-Meier curves of time to escalate, per group of column ``by`` (or overall)."""
    durations, observed = time_to_escalate(prepared, as_of)
    groups = as_text(prepared[by]) if by else None
    return kaplan_meier(durations, observed, groups)


def share_by_target(prepared: pd.DataFrame, by: str, as_of: dt.date) -> pd.DataFrame:
    """Share escalated by the target time, read off each trigger's curve, per group."""
    rows = []
    prepared = prepared[list(dict.fromkeys(["trigger", "band", "target_minutes", *_SURVIVAL_COLUMNS, *([by] if by else [])]))]
    for trigger, subset in _by_text(prepared, "trigger"):
        for band, part in _by_text(subset, "band"):
            target = float(part["target_minutes"].iloc[0])
            curves = escalation_curves(part, by, as_of)
            shares = share_escalated_by(curves, target)
            rows.extend(
                {"trigger": trigger, "band": band, "group": group, "target_minutes": target, "share_escalated_pct": 100 * share}
                for group, share in shares.items()
            )
    return pd.DataFrame(rows)


def _by_text(frame: pd.DataFrame, column: str):
    """``frame.groupby(as_text(frame[column]), sort=True)``, straight from a categorical's codes.

    The same groups in the same order (labels sorted as text, blanks dropped), each the
    same rows with the same index, without writing a label per row and hashing it again.
    """
    values = frame[column]
    if not isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_string_dtype(values.cat.categories):
        yield from frame.groupby(as_text(values), sort=True)
        return
    codes = values.cat.codes.to_numpy()
    present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)))
    for label, code in sorted((str(values.cat.categories[c]), c) for c in present):
        yield label, frame[codes == code]


def compare_factor(prepared: pd.DataFrame, factor: str, as_of: dt.date) -> dict[str, Comparison]:
    """Delays, time to escalate and compliance compared across the two levels of a factor."""
    column, ref, other, ref_label, other_label = FACTORS[factor]
    values = prepared[column]
    return _compare_masks(prepared, text_is(values, ref), text_is(values, other), ref_label, other_label, as_of)


def compare_team(prepared: pd.DataFrame, team: str, as_of: dt.date) -> dict[str, Comparison]:
    """One team against all other teams combined."""
    is_team = prepared["team"] == team
    return _compare_masks(prepared, ~is_team, is_team, "for other teams", f"for {team}", as_of)


def _compare_masks(
    prepared: pd.DataFrame, mask_a: pd.Series, mask_b: pd.Series, label_a: str, label_b: str, as_of: dt.date
) -> dict[str, Comparison]:
    prepared = prepared[["within_target", *_SURVIVAL_COLUMNS]]
    a, b = prepared[mask_a.to_numpy()], prepared[mask_b.to_numpy()]
    both = prepared[(mask_a | mask_b).to_numpy()]
    durations, observed = time_to_escalate(both, as_of)
    in_b = mask_b[(mask_a | mask_b)].to_numpy().astype(np.int8)
    group = pd.Categorical.from_codes(in_b, categories=["a", "b"])  # "a"/"b" without a string per row
    return {
        "compliance": compare_proportions(
            int(a["within_target"].sum()), len(a), int(b["within_target"].sum()), len(b), label_a, label_b
        ),
        "delay": compare_delays(
            a.loc[a["escalated"], "delay_minutes"], b.loc[b["escalated"], "delay_minutes"], label_a, label_b
        ),
        "time_to_escalate": compare_time_to_escalation(
            pd.Series(durations), pd.Series(observed), pd.Series(group), order=["a", "b"],
            label_a=label_a, label_b=label_b,
        ),
    }
