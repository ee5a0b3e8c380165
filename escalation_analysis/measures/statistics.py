"""Statistical machinery behind the escalation reports.

The analytics modules call these functions to put an interval round every rate, to estimate
time to escalate when some episodes have no escalation recorded yet, and to say in plain
English whether a difference between two groups is likely to be real. Everything is
vectorised over observations; the only Python loops are over a handful of groups.

Known answers: :func:`wilson_interval` agrees with statsmodels' ``proportion_confint``
(``method="wilson"``), :func:`kaplan_meier` with lifelines' ``KaplanMeierFitter`` (survival and
its exponential Greenwood interval) and :func:`compare_time_to_escalation` with lifelines'
``logrank_test``. The tests check each to 1e-9.

Wording never claims a cause: a difference "is unlikely to be chance", never "is caused by".
When either group has fewer than :data:`MIN_GROUP_SIZE` observations the wording says the
numbers are too small to judge, whatever the p-value. Wording quotes percentages and medians of
the groups; suppressing small numbers for external audiences is the report layer's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

__all__ = [
    "MIN_GROUP_SIZE",
    "Comparison",
    "EffectSize",
    "binomial_cdf",
    "binomial_quantile",
    "compare_delays",
    "compare_proportions",
    "compare_time_to_escalation",
    "format_p_value",
    "kaplan_meier",
    "median_time_to_escalate",
    "quantile_minutes",
    "share_escalated_by",
    "wilson_interval",
]

MIN_GROUP_SIZE: int = 20
"""Below this many observations in either group, wording says the numbers are too small."""

KM_COLUMNS: tuple[str, ...] = (
    "group",
    "time",
    "at_risk",
    "events",
    "censored",
    "survival",
    "cumulative_escalated",
    "greenwood_variance",
    "survival_ci_low",
    "survival_ci_high",
    "cumulative_escalated_ci_low",
    "cumulative_escalated_ci_high",
)

ALL_GROUPS_LABEL = "All"
"""Group label used by :func:`kaplan_meier` when no groups are given."""


# --------------------------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------------------------


def _z_value(confidence: float) -> float:
    """Two-sided normal critical value, e.g. 1.96 for 95% confidence."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}.")
    return float(-special.ndtri((1 - confidence) / 2))  # the normal distribution's isf


def wilson_interval(
    successes: ArrayLike | pd.Series,
    n: ArrayLike | pd.Series,
    confidence: float = 0.95,
) -> tuple[Any, Any]:
    r"""Wilson score interval for a proportion, e.g. compliance = within target / episodes.

    The Wilson interval is used rather than the textbook normal ("Wald") interval because it
    stays inside [0, 1] and keeps close to its nominal coverage for the small counts and
    extreme rates (0% or 100% within target) that team-level breakdowns produce.

    Parameters
    ----------
    successes : int, float, array-like or Series
        Number of successes (e.g. episodes escalated within target).
    n : int, float, array-like or Series
        Number of trials (episodes). Broadcast against ``successes``.
    confidence : float, default 0.95
        Two-sided confidence level.

    Returns
    -------
    low, high : float, ndarray or Series
        Interval bounds as proportions in [0, 1]: floats for scalar input, Series (with the
        input's index) when either input is a Series, arrays otherwise. ``n == 0`` gives NaN.

    Raises
    ------
    ValueError
        If a count is negative or ``successes`` exceeds ``n``.

    Notes
    -----
    With :math:`\hat p = x/n` and :math:`z` the normal quantile,

    .. math:: \frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    identical to ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.

    Examples
    --------
    >>> low, high = wilson_interval(8, 10)
    >>> round(low, 4), round(high, 4)
    (0.4902, 0.9433)
    """
    index = _series_index(successes, n)
    x = np.asarray(successes, dtype=float)
    trials = np.asarray(n, dtype=float)
    if np.any(x < 0) or np.any(trials < 0) or np.any(x > trials):
        raise ValueError("successes and n must satisfy 0 <= successes <= n.")
    z = _z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = x / trials
        denominator = 1 + z**2 / trials
        centre = (share + z**2 / (2 * trials)) / denominator
        half_width = z * np.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2))
        half_width = half_width / denominator
    low = np.clip(centre - half_width, 0.0, 1.0)
    high = np.clip(centre + half_width, 0.0, 1.0)
    return _shape_like_input(low, index), _shape_like_input(high, index)


def _series_index(*values: Any) -> pd.Index | None:
    """Index of the first Series among ``values``, so results can keep their labels."""
    for value in values:
        if isinstance(value, pd.Series):
            return value.index
    return None


def _shape_like_input(values: np.ndarray, index: pd.Index | None) -> Any:
    """Return a float for 0-d input, a Series if the input was one, else the array."""
    if index is not None:
        return pd.Series(values, index=index)
    if values.ndim == 0:
        return float(values)
    return values


def _newcombe_difference_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float
) -> tuple[float, float]:
    """Newcombe hybrid score interval for p_b - p_a, built from the two Wilson intervals.

    Newcombe's method 10 (Stat Med 1998) inherits the Wilson interval's good behaviour for
    small counts and rates near 0% or 100%, where the Wald interval for a difference fails.
    """
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson_interval(successes_a, n_a, confidence)
    low_b, high_b = wilson_interval(successes_b, n_b, confidence)
    difference = p_b - p_a
    below = np.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    above = np.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return float(difference - below), float(difference + above)


# --------------------------------------------------------------------------------------------
# Quantiles
# --------------------------------------------------------------------------------------------


def binomial_quantile(p: float, n: np.ndarray, theta: float) -> np.ndarray:
    """The smallest r with P(Y <= r) >= p for Y ~ Binomial(n, theta), as ``scipy.stats.binom.ppf``.

    From the incomplete-beta functions in ``scipy.special`` (``bdtrik`` inverts the CDF in r,
    then the integer either side is checked), so reports need not import ``scipy.stats``.
    """
    n = np.asarray(n).astype(np.int64)  # counts: bdtr takes whole numbers
    guess = np.ceil(special.bdtrik(p, n, theta))
    # no trials, or theta 0 or 1: Y is certain (0, or n) and bdtrik has no answer (nan)
    guess = np.where(np.isnan(guess), n if theta >= 1 else 0, guess)
    below = np.maximum(guess - 1, 0)
    chosen = np.where(binomial_cdf(below, n, theta) >= p, below, guess)
    return np.clip(chosen, 0, n).astype(float)


def binomial_cdf(k: np.ndarray, n: np.ndarray, theta: float) -> np.ndarray:
    """P(Y <= k) for Y ~ Binomial(n, theta), k whole numbers up to n (0 below 0, as scipy.stats)."""
    k = np.asarray(k).astype(np.int64)
    return np.where(k < 0, 0.0, special.bdtr(np.maximum(k, 0), np.asarray(n).astype(np.int64), theta))


def quantile_minutes(minutes: ArrayLike | pd.Series, q: float | Sequence[float] = 0.5) -> Any:
    """Quantile(s) of recorded delays, e.g. the median and 90th percentile delay to escalate.

    One documented method everywhere, so every report quotes the same median: numpy's
    default linear interpolation (Hyndman and Fan type 7), which is also what
    ``pandas.Series.quantile`` and R's ``quantile`` use by default.

    Parameters
    ----------
    minutes : array-like or Series
        Delays in minutes. Missing values (no escalation recorded) are ignored, so this is the
        quantile among escalated episodes; for a quantile that allows for episodes not yet
        escalated use :func:`median_time_to_escalate`.
    q : float or sequence of float, default 0.5
        Quantile(s) in [0, 1].

    Returns
    -------
    float or Series
        A float for scalar ``q`` (NaN when there are no delays), else a Series indexed by q.

    Examples
    --------
    >>> quantile_minutes([10, 20, 30, 40], 0.5)
    25.0
    >>> quantile_minutes([10, 20, 30, 40], [0.5, 0.9]).tolist()
    [25.0, 37.0]
    """
    values = pd.Series(np.asarray(minutes, dtype=float)).dropna()
    result = values.quantile(q, interpolation="linear")
    return float(result) if np.ndim(q) == 0 else result


# --------------------------------------------------------------------------------------------
# Kaplan-Meier
# --------------------------------------------------------------------------------------------


def _survival_frame(
    durations: ArrayLike | pd.Series,
    observed: ArrayLike | pd.Series,
    groups: ArrayLike | pd.Series | None,
) -> pd.DataFrame:
    """Validate inputs into one tidy frame (group, time, observed), aligned by position."""
    time = np.asarray(durations, dtype=float).reshape(-1)
    escalated = pd.Series(observed).reset_index(drop=True)
    if len(escalated) != len(time):
        raise ValueError("durations and observed must have the same length.")
    if np.isnan(time).any():
        raise ValueError(
            "durations contain missing values: give open episodes their follow-up time "
            "and mark them as not observed (censored)."
        )
    if (time < 0).any():
        raise ValueError("durations must not be negative (escalated before identified?).")
    if escalated.isna().any():
        raise ValueError("observed contains missing values; use False for not escalated.")
    if escalated.dtype != bool and not escalated.isin([0, 1]).all():
        raise ValueError("observed must be boolean (True = escalated).")
    if groups is None:
        group = pd.Series([ALL_GROUPS_LABEL] * len(time), dtype=object)
    else:
        group = pd.Series(groups).reset_index(drop=True)
        if len(group) != len(time):
            raise ValueError("groups must have the same length as durations.")
        if group.isna().any():
            raise ValueError("groups contain missing values; label them (e.g. 'Not recorded').")
    return pd.DataFrame(
        {"group": group, "time": time, "observed": escalated.astype(bool).to_numpy()}
    )


def _event_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Count removals and escalations per (group, time), add time 0 and the number at risk.

    At risk at time t means duration >= t: an episode censored at t is still at risk of
    escalating at t, the usual convention that events precede censoring at tied times.

    Counting is done with integer codes and ``bincount`` over (group, distinct time), which
    gives the same table as a ``groupby`` on both without sorting a million durations.
    """
    group_sizes = frame.groupby("group", observed=True, sort=True).size()
    codes, labels = pd.factorize(frame["group"])
    group = group_sizes.index.get_indexer(labels)[codes]
    time_codes, times = pd.factorize(np.append(frame["time"].to_numpy(dtype=float), 0.0))
    rank = np.empty(len(times), dtype=np.int64)
    rank[np.argsort(times, kind="stable")] = np.arange(len(times))
    sorted_times = np.sort(times)
    width = len(times)
    cell = group * width + rank[time_codes[:-1]]
    removed = np.bincount(cell, minlength=len(group_sizes) * width)
    events = np.bincount(cell, weights=frame["observed"].to_numpy(), minlength=len(group_sizes) * width)
    kept = removed > 0
    kept[np.arange(len(group_sizes)) * width + rank[time_codes[-1]]] = True  # time 0 in every group
    cells = np.flatnonzero(kept)
    in_group, at = cells // width, cells % width
    removed = removed[cells].astype("int64")
    events = events[cells].astype("int64")
    running = np.cumsum(removed)
    group_start = np.searchsorted(in_group, np.arange(len(group_sizes)))
    removed_before = running - removed - np.append(running - removed, 0)[group_start][in_group]
    table = pd.DataFrame(
        {
            "group": group_sizes.index.take(in_group).rename(None),
            "time": sorted_times[at],
            "removed": removed,
            "events": events,
        }
    )
    table["at_risk"] = group_sizes.to_numpy().astype("int64")[in_group] - removed_before
    table["censored"] = table["removed"] - table["events"]
    return table


def _log_log_interval(
    survival: np.ndarray, greenwood_sum: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exponential Greenwood ("log-log") interval for S(t), as lifelines computes it.

    Working on log(-log S) keeps the interval inside [0, 1] and is better behaved in the
    tails than a plain S +/- z*SE interval. Where S = 1 (nothing escalated yet) the interval
    is (1, 1); where S = 0 it is (0, 0).
    """
    z = _z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        shift = z * np.sqrt(greenwood_sum) / log_s
        low = np.exp(-np.exp(np.log(-log_s) - shift))
        high = np.exp(-np.exp(np.log(-log_s) + shift))
    nothing_yet = survival >= 1.0
    return np.where(nothing_yet, 1.0, low), np.where(nothing_yet, 1.0, high)


def kaplan_meier(
    durations: ArrayLike | pd.Series,
    observed: ArrayLike | pd.Series,
    groups: ArrayLike | pd.Series | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Kaplan-Meier estimate of time to escalate, allowing for episodes not yet escalated.

    A plain share "escalated within 60 minutes" treats an episode with no escalation recorded
    yet as never escalated, and a median of recorded delays ignores it altogether. Kaplan-Meier
    counts such an episode as *censored*: it contributes for as long as it was observed, and
    no longer.

    Parameters
    ----------
    durations : array-like or Series of float
        Minutes from risk identified to escalation, or to the end of follow-up for episodes
        not (yet) escalated. Must be non-negative with no missing values.
    observed : array-like or Series of bool
        True if the escalation happened at ``durations``; False if censored there.
    groups : array-like or Series, optional
        Group of each episode (e.g. band or team); one curve per group. Without groups, one
        curve labelled ``"All"``.
    confidence : float, default 0.95
        Level of the pointwise confidence interval.

    Returns
    -------
    DataFrame
        One row per group and distinct time (0 and every time at which an episode escalated
        or was censored), sorted by group then time, with columns:

        - ``group``; ``time`` (minutes);
        - ``at_risk`` (duration >= time), ``events`` (escalated at time), ``censored``;
        - ``survival``: S(t), the estimated share not yet escalated by ``time``;
        - ``cumulative_escalated``: 1 - S(t);
        - ``greenwood_variance``: Greenwood's variance of S(t);
        - ``survival_ci_low``, ``survival_ci_high``: exponential Greenwood (log-log) interval;
        - ``cumulative_escalated_ci_low``, ``cumulative_escalated_ci_high``: 1 minus those.

        Positional alignment: Series inputs are matched by position, not index.

    Notes
    -----
    The estimate is right-continuous: the row for time t already includes escalations at t,
    so S(0) < 1 when some episodes were escalated at 0 minutes. Durations tie only when they
    are exactly equal. Matches lifelines' ``KaplanMeierFitter`` (``survival_function_`` and
    ``confidence_interval_``); rows at censoring-only times carry S forward unchanged.

    Examples
    --------
    >>> km = kaplan_meier([5, 10, 10, 20], [True, True, False, True])
    >>> print(km[["time", "at_risk", "events", "censored", "survival"]].to_string(index=False))
     time  at_risk  events  censored  survival
      0.0        4       0         0      1.00
      5.0        4       1         0      0.75
     10.0        3       1         1      0.50
     20.0        1       1         0      0.00
    """
    frame = _survival_frame(durations, observed, groups)
    if frame.empty:
        return pd.DataFrame({name: pd.Series(dtype=float) for name in KM_COLUMNS})
    table = _event_table(frame)
    at_risk = table["at_risk"].to_numpy(dtype=float)
    events = table["events"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # When everyone left at risk escalates the term is infinite; S is then 0 and so is its
        # variance. lifelines drops the term the same way.
        greenwood_term = np.where(at_risk > events, events / (at_risk * (at_risk - events)), 0.0)
    survival = _cumulative_by_group(1.0 - events / at_risk, table["group"], "cumprod")
    greenwood_sum = _cumulative_by_group(greenwood_term, table["group"], "cumsum")
    low, high = _log_log_interval(survival, greenwood_sum, confidence)
    table["survival"] = survival
    table["cumulative_escalated"] = 1.0 - survival
    table["greenwood_variance"] = survival**2 * greenwood_sum
    table["survival_ci_low"] = low
    table["survival_ci_high"] = high
    table["cumulative_escalated_ci_low"] = 1.0 - high
    table["cumulative_escalated_ci_high"] = 1.0 - low
    return table[list(KM_COLUMNS)]


def _cumulative_by_group(values: np.ndarray, group: pd.Series, how: str) -> np.ndarray:
    """Running product or sum of ``values`` within each group (rows already in time order)."""
    running = pd.Series(values, index=group.index).groupby(group, observed=True, sort=False)
    return getattr(running, how)().to_numpy()


def _ordered_km(km_frame: pd.DataFrame) -> pd.DataFrame:
    """Kaplan-Meier frame sorted by group then time (it usually already is)."""
    return km_frame.sort_values(["group", "time"], kind="stable")


def share_escalated_by(km_frame: pd.DataFrame, minutes: float) -> pd.Series:
    """Estimated share of episodes escalated within ``minutes``, per group.

    Reads 1 - S(t) off the Kaplan-Meier step function at ``t = minutes``: the value at the
    last time <= ``minutes``, because the curve is right-continuous.

    Parameters
    ----------
    km_frame : DataFrame
        Output of :func:`kaplan_meier`.
    minutes : float
        Target time, e.g. the trigger's target in minutes. Must be non-negative.

    Returns
    -------
    Series
        ``cumulative_escalated`` at ``minutes``, indexed by ``group``, as a proportion.

    Notes
    -----
    Beyond a group's last observed time the last value is carried forward. If that last time
    is a censoring, the curve is not really known past it, so check follow-up covers the target.

    Examples
    --------
    >>> km = kaplan_meier([5, 10, 10, 20], [True, True, False, True])
    >>> share_escalated_by(km, 15).tolist()
    [0.5]
    """
    if minutes < 0:
        raise ValueError(f"minutes must be non-negative, got {minutes!r}.")
    reached = _ordered_km(km_frame).loc[lambda km: km["time"] <= minutes]
    last = reached.groupby("group", observed=True, sort=True).tail(1)
    return pd.Series(
        last["cumulative_escalated"].to_numpy(),
        index=pd.Index(last["group"], name="group"),
        name="cumulative_escalated",
    )


def median_time_to_escalate(km_frame: pd.DataFrame) -> pd.Series:
    """Kaplan-Meier median time to escalate per group: when half had been escalated.

    Unlike the median of recorded delays, this allows for episodes with no escalation
    recorded yet.

    Parameters
    ----------
    km_frame : DataFrame
        Output of :func:`kaplan_meier`.

    Returns
    -------
    Series
        Minutes, indexed by ``group``: the first time at which S(t) <= 0.5 (lifelines'
        ``median_survival_time_`` definition). ``inf`` when fewer than half were ever seen to
        escalate (the median is "not reached").

    Examples
    --------
    >>> km = kaplan_meier([5, 10, 10, 20], [True, True, False, True])
    >>> median_time_to_escalate(km).tolist()
    [10.0]
    """
    ordered = _ordered_km(km_frame)
    groups = pd.Index(ordered["group"].drop_duplicates(), name="group")
    reached = ordered.loc[ordered["survival"] <= 0.5].groupby("group", observed=True).head(1)
    medians = pd.Series(reached["time"].to_numpy(), index=pd.Index(reached["group"]))
    return medians.reindex(groups, fill_value=np.inf).rename("median_minutes")


# --------------------------------------------------------------------------------------------
# Comparisons: results and wording
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectSize:
    """How big a difference is, with a plain-language label.

    Attributes
    ----------
    name : str
        Machine name, e.g. ``"difference_pp"``.
    value : float
        The estimate (NaN when undefined, e.g. a ratio with a zero denominator).
    label : str
        Plain-English description for readers who do not know the statistic.
    ci_low, ci_high : float
        Confidence interval when one is computed, else NaN.
    """

    name: str
    value: float
    label: str
    ci_low: float = float("nan")
    ci_high: float = float("nan")


@dataclass(frozen=True)
class Comparison:
    """Result of comparing two groups: the test, the effect sizes and what to say.

    Attributes
    ----------
    test : str
        Name of the test used, e.g. ``"Mann-Whitney U"``, ``"log-rank"``,
        ``"chi-square (no continuity correction)"``, ``"Fisher's exact"``.
    statistic : float
        Test statistic (U for group A; chi-square; the sample odds ratio A vs B for Fisher).
    p_value : float
        Two-sided p-value; NaN when the test cannot be run (e.g. an empty group).
    effects : dict of str to EffectSize
        Effect sizes keyed by name. B is compared with A throughout (B - A, B / A).
    label_a, label_b : str
        Group labels as used in the wording.
    n_a, n_b : int
        Observations (episodes) in each group.
    confidence : float
        Confidence level of the intervals; the p-value threshold is ``1 - confidence``.
    significant : bool
        ``p_value < 1 - confidence``. A statistical statement only: it says nothing about cause.
    too_small : bool
        Either group has fewer than :data:`MIN_GROUP_SIZE` observations. The wording then says
        the numbers are too small to judge, even if ``significant`` is True.
    wording : str
        Plain-English summary in UK English.
    """

    test: str
    statistic: float
    p_value: float
    effects: dict[str, EffectSize]
    label_a: str
    label_b: str
    n_a: int
    n_b: int
    confidence: float
    significant: bool
    too_small: bool
    wording: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (nested effect sizes included), e.g. for ``summary.json``."""
        return asdict(self)


def format_p_value(p_value: float, alpha: float = 0.05) -> str:
    """Format a p-value for readers: ``"p = 0.03"``, ``"p = 0.004"`` or ``"p < 0.001"``.

    Two decimals from 0.01 up, three below, and ``"p < 0.001"`` below that. Extra decimals
    are added when rounding would make a p-value read exactly as ``alpha`` (``0.0496`` is
    shown as ``"p = 0.0496"``, not ``"p = 0.05"``), so the text never contradicts the verdict.

    Parameters
    ----------
    p_value : float
        The p-value.
    alpha : float, default 0.05
        Significance threshold the wording is judged against.

    Returns
    -------
    str
        ``"p not available"`` for NaN.

    Examples
    --------
    >>> format_p_value(0.0312), format_p_value(0.0042), format_p_value(0.0001)
    ('p = 0.03', 'p = 0.004', 'p < 0.001')
    >>> format_p_value(0.0496)
    'p = 0.0496'
    """
    if np.isnan(p_value):
        return "p not available"
    if p_value < 0.001:
        return "p < 0.001"
    if p_value > 0.99:
        return "p > 0.99"
    decimals = 3 if p_value < 0.01 else 2
    text = f"{p_value:.{decimals}f}"
    while float(text) == alpha and p_value != alpha and decimals < 6:
        decimals += 1
        text = f"{p_value:.{decimals}f}"
    return f"p = {text}"


_TOO_SMALL = "The numbers are too small to say whether this difference is real."


def _verdict(p_value: float, too_small: bool, alpha: float) -> str:
    """Say whether a difference is likely to be real, without overclaiming."""
    if too_small or np.isnan(p_value):
        return _TOO_SMALL
    p_text = format_p_value(p_value, alpha)
    if p_value < alpha:
        return f"A difference this large is unlikely to be chance ({p_text})."
    return (
        f"This difference could be due to chance ({p_text}): "
        "the numbers are too small to say whether it is real."
    )


def _sentence_start(text: str) -> str:
    """Capitalise the first letter only (``str.capitalize`` would lower-case team names)."""
    return text[:1].upper() + text[1:]


def _format_percent(proportion: float) -> str:
    """Whole-number percentage that never rounds a non-zero share to 0% or a partial to 100%."""
    percent = 100 * proportion
    if 0 < percent < 0.5:
        return "under 1%"
    if 99.5 <= percent < 100:
        return "over 99%"
    return f"{percent:.0f}%"


def _format_minutes(minutes: float) -> str:
    """Minutes for wording: at most one decimal (medians of whole minutes end in .5)."""
    text = f"{minutes:.1f}".removesuffix(".0")
    return f"{text} minute" if text == "1" else f"{text} minutes"


def _format_points(points: float) -> str:
    """Whole percentage points, signed with a plain hyphen-minus (never "-0")."""
    return str(round(points) + 0)


def _is_too_small(n_a: int, n_b: int) -> bool:
    """Tell whether either group is below :data:`MIN_GROUP_SIZE`."""
    return min(n_a, n_b) < MIN_GROUP_SIZE


def _magnitude_of_correlation(value: float) -> str:
    """Conventional size labels for a correlation-type effect (Cohen 1988: 0.1, 0.3, 0.5)."""
    size = abs(value)
    if np.isnan(size):
        return "undefined"
    if size < 0.1:
        return "negligible"
    if size < 0.3:
        return "small"
    if size < 0.5:
        return "medium"
    return "large"


# --------------------------------------------------------------------------------------------
# Delays: Mann-Whitney U
# --------------------------------------------------------------------------------------------


def _delay_effects(
    a: np.ndarray, b: np.ndarray, u_a: float, label_a: str, label_b: str
) -> dict[str, EffectSize]:
    """Rank-biserial correlation, ratio and difference of medians (B compared with A)."""
    median_a, median_b = float(np.median(a)), float(np.median(b))
    rank_biserial = 1.0 - 2.0 * u_a / (len(a) * len(b))
    b_longer = (rank_biserial + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = median_b / median_a if median_a > 0 else float("nan")
    return {
        "rank_biserial": EffectSize(
            "rank_biserial",
            rank_biserial,
            f"a {_magnitude_of_correlation(rank_biserial)} effect: picking one delay "
            f"{label_b} and one {label_a} at random, the one {label_b} is longer "
            f"{_format_percent(b_longer)} of the time (ties count half)",
        ),
        "median_ratio": EffectSize(
            "median_ratio",
            ratio,
            f"median delay {label_b} is {ratio:.2g} times the median delay {label_a}"
            if np.isfinite(ratio)
            else f"undefined: the median delay {label_a} is 0 minutes",
        ),
        "median_difference_minutes": EffectSize(
            "median_difference_minutes",
            median_b - median_a,
            f"median delay {label_b} minus median delay {label_a}, in minutes",
        ),
    }


def compare_delays(
    a_minutes: ArrayLike | pd.Series,
    b_minutes: ArrayLike | pd.Series,
    label_a: str = "in group A",
    label_b: str = "in group B",
    measure: str = "delay to escalate",
    confidence: float = 0.95,
) -> Comparison:
    """Compare delays between two groups: are delays in one group typically longer.

    Uses the two-sided Mann-Whitney U test because delays are skewed (a few very long waits),
    so a t-test on means would be dominated by outliers.

    Parameters
    ----------
    a_minutes, b_minutes : array-like or Series of float
        Delays in minutes for each group. Missing values (no escalation recorded) are dropped,
        so this compares escalated episodes only; use :func:`compare_time_to_escalation` to
        allow for episodes not yet escalated.
    label_a, label_b : str
        Phrases that read after a number, e.g. ``"out of hours"``, ``"in hours"`` or
        ``"for Team North"``.
    measure : str, default "delay to escalate"
        What the minutes measure, for the wording ("The median {measure} was ...").
    confidence : float, default 0.95
        The p-value threshold is ``1 - confidence``.

    Returns
    -------
    Comparison
        ``statistic`` is U for group A. Effects (B compared with A): ``rank_biserial``
        (P(B longer) - P(A longer), from -1 to 1), ``median_ratio`` (B / A) and
        ``median_difference_minutes`` (B - A).

    Notes
    -----
    scipy's ``mannwhitneyu(method="auto")``: exact p-values for small samples without ties,
    otherwise the normal approximation with tie and continuity corrections. The test asks
    whether one group's delays tend to be longer, not whether the medians differ.

    Examples
    --------
    >>> result = compare_delays([5, 6, 7], [8, 9, 10], "in hours", "out of hours")
    >>> result.effects["rank_biserial"].value
    1.0
    >>> result.too_small
    True
    """
    a = _finite_values(a_minutes)
    b = _finite_values(b_minutes)
    if len(a) == 0 or len(b) == 0:
        return _empty_comparison("Mann-Whitney U", (label_a, label_b), (len(a), len(b)), confidence, "delays")
    statistic, p_value = mann_whitney_u(a, b)
    effects = _delay_effects(a, b, statistic, label_a, label_b)
    median_a, median_b = np.median(a), np.median(b)
    difference = abs(median_b - median_a)
    description = (
        f"The median {measure} was {_format_minutes(median_a)} {label_a} compared with "
        f"{_format_minutes(median_b)} {label_b} (a difference of {_format_minutes(difference)})."
    )
    return _judged("Mann-Whitney U", statistic, p_value, effects, (label_a, label_b), (len(a), len(b)), confidence,
                   description)


def mann_whitney_u(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """U for group A and the two-sided p-value, as ``scipy.stats.mannwhitneyu(a, b)`` gives them.

    Large samples (the usual case) use the normal approximation with tie and continuity
    corrections, computed from one sort: average ranks come from where each value starts
    and ends in the sorted values, and tie sizes from the runs. That is scipy's
    ``method="auto"`` arithmetic without its generic machinery, which costs several times
    more on a million delays. Tiny samples without ties (exact p-values) go to scipy.
    """
    a, b = np.sort(np.asarray(a, dtype=float)), np.asarray(b, dtype=float)
    n_a, n_b = len(a), len(b)
    values = np.sort(np.concatenate([a, b]))
    distinct_a, count_a = _runs(a)
    starts = np.searchsorted(values, distinct_a, side="left")
    ends = np.searchsorted(values, distinct_a, side="right")
    rank_sum_a = float(np.sum(count_a * (starts + ends + 1) / 2))  # average rank of each value of A
    u_a = rank_sum_a - n_a * (n_a + 1) / 2
    ties = _runs(values)[1].astype(float)
    if (n_a <= 8 or n_b <= 8) and not (ties > 1).any():
        from scipy import stats  # exact distribution, only for tiny samples

        result = stats.mannwhitneyu(a, b, alternative="two-sided", method="exact")
        return float(result.statistic), float(result.pvalue)
    n = n_a + n_b
    spread = np.sqrt(n_a * n_b / 12 * ((n + 1) - np.sum(ties**3 - ties) / (n * (n - 1))))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (max(u_a, n_a * n_b - u_a) - n_a * n_b / 2 - 0.5) / spread
    return u_a, float(np.clip(2 * special.ndtr(-z), 0.0, 1.0))


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how many times each occurs."""
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])) if len(ordered) else np.zeros(0, int)
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def _finite_values(values: ArrayLike | pd.Series) -> np.ndarray:
    """Float array without missing values."""
    array = np.asarray(values, dtype=float).reshape(-1)
    return array[~np.isnan(array)]


def _judged(
    test: str,
    statistic: float,
    p_value: float,
    effects: dict[str, EffectSize],
    labels: tuple[str, str],
    sizes: tuple[int, int],
    confidence: float,
    description: str,
    extra: dict[str, Any] | None = None,
) -> Comparison:
    """A test's result with its verdict: significant at ``1 - confidence``, unless too small to judge."""
    alpha = 1 - confidence
    too_small = _is_too_small(*sizes)
    return Comparison(
        test=test,
        statistic=statistic,
        p_value=p_value,
        effects=effects,
        label_a=labels[0],
        label_b=labels[1],
        n_a=int(sizes[0]),
        n_b=int(sizes[1]),
        confidence=confidence,
        significant=bool(p_value < alpha),
        too_small=too_small,
        wording=f"{description} {_verdict(p_value, too_small, alpha)}",
        extra=extra or {},
    )


def _empty_comparison(
    test: str, labels: tuple[str, str], sizes: tuple[int, int], confidence: float, what: str
) -> Comparison:
    """The result when a group has nothing to compare (no ``what``): no test, NaN p-value."""
    missing = labels[0] if sizes[0] == 0 else labels[1]
    return Comparison(
        test=test,
        statistic=float("nan"),
        p_value=float("nan"),
        effects={},
        label_a=labels[0],
        label_b=labels[1],
        n_a=int(sizes[0]),
        n_b=int(sizes[1]),
        confidence=confidence,
        significant=False,
        too_small=True,
        wording=f"There are no {what} to compare {missing}.",
    )


# --------------------------------------------------------------------------------------------
# Time to escalation: log-rank
# --------------------------------------------------------------------------------------------


def _logrank(
    time: np.ndarray, observed: np.ndarray, in_b: np.ndarray
) -> tuple[float, float, float, float]:
    """Two-group log-rank test: returns (chi-square, p-value, observed B, expected B).

    At each distinct escalation time the events are shared out in proportion to the numbers
    at risk; the statistic compares B's observed escalations with that expectation, using the
    hypergeometric variance. Numbers at risk are suffix sums of counts per distinct time,
    so the durations are hashed once instead of sorted four times.
    """
    codes, distinct = pd.factorize(time)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[np.argsort(distinct, kind="stable")] = np.arange(len(distinct))
    position = rank[codes]
    size = len(distinct)

    def counts(mask: np.ndarray) -> np.ndarray:
        return np.bincount(position[mask], minlength=size)

    at_risk_a = np.cumsum(counts(~in_b)[::-1])[::-1]
    at_risk_b = np.cumsum(counts(in_b)[::-1])[::-1]
    events_a, events_b = counts(~in_b & observed), counts(in_b & observed)
    escalation = (events_a + events_b) > 0  # the distinct escalation times, in order
    at_risk_a, at_risk_b = at_risk_a[escalation].astype(float), at_risk_b[escalation].astype(float)
    events_a, events_b = events_a[escalation].astype(float), events_b[escalation].astype(float)
    at_risk = at_risk_a + at_risk_b
    events = events_a + events_b
    expected_b = np.sum(events * at_risk_b / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        tie_correction = np.where(at_risk > 1, (at_risk - events) / (at_risk - 1), 1.0)
    variance = np.sum(events * at_risk_a * at_risk_b / at_risk**2 * tie_correction)
    observed_b = events_b.sum()
    if variance <= 0:
        return float("nan"), float("nan"), float(observed_b), float(expected_b)
    statistic = (observed_b - expected_b) ** 2 / variance
    return (
        float(statistic),
        float(special.chdtrc(1, statistic)),  # chi-square survival function, 1 df
        float(observed_b),
        float(expected_b),
    )


def _median_phrase(median_a: float, median_b: float, label_a: str, label_b: str) -> str:
    """Sentence giving the Kaplan-Meier medians, including 'fewer than half' cases."""
    start = "Allowing for episodes with no escalation recorded yet, "
    if np.isfinite(median_a) and np.isfinite(median_b):
        return (
            f"{start}half of episodes had been escalated by {_format_minutes(median_a)} "
            f"{label_a} compared with {_format_minutes(median_b)} {label_b}."
        )
    if np.isfinite(median_a):
        return (
            f"{start}half of episodes had been escalated by {_format_minutes(median_a)} "
            f"{label_a}; {label_b}, fewer than half were seen to be escalated."
        )
    if np.isfinite(median_b):
        return (
            f"{start}half of episodes had been escalated by {_format_minutes(median_b)} "
            f"{label_b}; {label_a}, fewer than half were seen to be escalated."
        )
    return f"{start}fewer than half of episodes were seen to be escalated in either group."


def compare_time_to_escalation(
    durations: ArrayLike | pd.Series,
    observed: ArrayLike | pd.Series,
    group: ArrayLike | pd.Series,
    order: Sequence[Any] | None = None,
    label_a: str | None = None,
    label_b: str | None = None,
    confidence: float = 0.95,
) -> Comparison:
    """Compare time to escalate between two groups, allowing for episodes not yet escalated.

    The log-rank test compares the whole Kaplan-Meier curves, so an episode with no escalation
    recorded counts for as long as it was followed up instead of being dropped.

    Parameters
    ----------
    durations, observed : array-like or Series
        As for :func:`kaplan_meier`.
    group : array-like or Series
        Group of each episode; exactly two distinct values unless ``order`` is given.
    order : sequence of two values, optional
        Which group value is A and which is B. Default: the two values in sorted order.
    label_a, label_b : str, optional
        Phrases that read after a number (``"out of hours"``, ``"for Team North"``).
        Default: the group values as text.
    confidence : float, default 0.95
        The p-value threshold is ``1 - confidence``.

    Returns
    -------
    Comparison
        ``statistic`` is the log-rank chi-square (1 degree of freedom). Effects:
        ``hazard_ratio`` (B vs A, the log-rank estimate (O_B/E_B) / (O_A/E_A)),
        ``median_minutes_a`` and ``median_minutes_b`` (Kaplan-Meier medians, ``inf`` if not
        reached). ``extra`` holds observed and expected escalations in B.

    Notes
    -----
    Matches ``lifelines.statistics.logrank_test``. The test has most power when one group
    escalates faster at every moment (proportional hazards); if the curves cross, it can
    miss a real difference.

    Examples
    --------
    >>> result = compare_time_to_escalation([1, 2, 3, 4], [1, 1, 1, 1], ["a", "a", "b", "b"])
    >>> round(result.statistic, 4), result.too_small
    (2.8824, True)
    """
    frame = _survival_frame(durations, observed, group)
    value_a, value_b = _two_groups(frame["group"], order)
    frame = frame.loc[frame["group"].isin([value_a, value_b])]
    label_a = str(value_a) if label_a is None else label_a
    label_b = str(value_b) if label_b is None else label_b
    in_b = (frame["group"] == value_b).to_numpy()
    n_b = int(in_b.sum())
    n_a = len(in_b) - n_b
    if n_a == 0 or n_b == 0:
        return _empty_comparison("log-rank", (label_a, label_b), (n_a, n_b), confidence, "episodes")
    time = frame["time"].to_numpy()
    escalated = frame["observed"].to_numpy()
    statistic, p_value, observed_b, expected_b = _logrank(time, escalated, in_b)
    observed_a, expected_a = escalated.sum() - observed_b, escalated.sum() - expected_b
    with np.errstate(divide="ignore", invalid="ignore"):
        # numpy floats: no escalation at all gives nan, not ZeroDivisionError
        hazard_ratio = float((np.float64(observed_b) / expected_b) / (np.float64(observed_a) / expected_a))
    groups = pd.Categorical.from_codes(in_b.astype(np.int8), categories=["a", "b"])  # no text per row
    medians = median_time_to_escalate(kaplan_meier(time, escalated, groups))
    median_a, median_b = float(medians.get("a", np.inf)), float(medians.get("b", np.inf))
    effects = _survival_effects(hazard_ratio, median_a, median_b, label_a, label_b)
    description = _median_phrase(median_a, median_b, label_a, label_b)
    return _judged("log-rank", statistic, p_value, effects, (label_a, label_b), (n_a, n_b), confidence, description,
                   extra={"observed_b": observed_b, "expected_b": expected_b})


def _survival_effects(
    hazard_ratio: float, median_a: float, median_b: float, label_a: str, label_b: str
) -> dict[str, EffectSize]:
    """Hazard ratio (B vs A) and the two Kaplan-Meier medians, with plain labels."""
    return {
        "hazard_ratio": EffectSize(
            "hazard_ratio",
            hazard_ratio,
            f"at any moment, episodes {label_b} were being escalated at {hazard_ratio:.2g} "
            f"times the rate of episodes {label_a} (log-rank estimate of the hazard ratio)",
        ),
        "median_minutes_a": EffectSize(
            "median_minutes_a",
            median_a,
            f"minutes by which half of episodes {label_a} were escalated",
        ),
        "median_minutes_b": EffectSize(
            "median_minutes_b",
            median_b,
            f"minutes by which half of episodes {label_b} were escalated",
        ),
    }


def _two_groups(group: pd.Series, order: Sequence[Any] | None) -> tuple[Any, Any]:
    """Pick the (A, B) group values: ``order`` if given, else the two distinct values sorted."""
    if order is not None:
        if len(order) != 2:
            raise ValueError("order must name exactly two groups.")
        return order[0], order[1]
    values = sorted(pd.unique(group))
    if len(values) != 2:
        raise ValueError(f"Expected exactly two groups, found {len(values)}; pass order=.")
    return values[0], values[1]


# --------------------------------------------------------------------------------------------
# Proportions: chi-square or Fisher
# --------------------------------------------------------------------------------------------


def _proportion_test(table: np.ndarray) -> tuple[str, float, float]:
    """Pearson chi-square if every expected count is >= 5, else Fisher's exact test.

    No continuity (Yates) correction: with expected counts of 5 or more the uncorrected test
    is close to its nominal level, while Yates' correction is known to be conservative.
    Fisher's exact test covers the small tables where the chi-square approximation fails.
    """
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if np.all(expected >= 5):
        statistic = float(np.sum((table - expected) ** 2 / expected))
        degrees = (table.shape[0] - 1) * (table.shape[1] - 1)
        return "chi-square (no continuity correction)", statistic, float(special.chdtrc(degrees, statistic))
    from scipy import stats  # only for small tables: scipy.stats takes a second to import

    result = stats.fisher_exact(table, alternative="two-sided")
    return "Fisher's exact", float(result.statistic), float(result.pvalue)


def _proportion_effects(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    label_a: str,
    label_b: str,
    confidence: float,
) -> dict[str, EffectSize]:
    """Difference in percentage points (Newcombe interval), relative risk and odds ratio."""
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low, high = _newcombe_difference_interval(successes_a, n_a, successes_b, n_b, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative_risk = float(np.divide(p_b, p_a))
        odds_ratio = float(
            np.divide(successes_b * (n_a - successes_a), (n_b - successes_b) * successes_a)
        )
    return {
        "difference_pp": EffectSize(
            "difference_pp",
            100 * (p_b - p_a),
            f"percentage {label_b} minus percentage {label_a}, in percentage points",
            100 * low,
            100 * high,
        ),
        "relative_risk": EffectSize(
            "relative_risk",
            relative_risk,
            f"the proportion {label_b} is {relative_risk:.2g} times the proportion {label_a}",
        ),
        "odds_ratio": EffectSize(
            "odds_ratio", odds_ratio, f"odds {label_b} divided by odds {label_a}"
        ),
    }


def _difference_phrase(effect: EffectSize, confidence: float) -> str:
    """Phrase a difference as positive: 'a difference of 21 percentage points, 95% CI 12 to 30'."""
    sign = -1 if effect.value < 0 else 1
    low, high = sorted([sign * effect.ci_low, sign * effect.ci_high])
    points = abs(effect.value)
    size = (
        "less than 1 percentage point"
        if round(points) == 0 and points > 0
        else f"{_format_points(points)} percentage point{'' if round(points) == 1 else 's'}"
    )
    interval = f"{confidence:.0%} CI {_format_points(low)} to {_format_points(high)}"
    return f"a difference of {size}, {interval}"


def compare_proportions(
    success_a: int,
    n_a: int,
    success_b: int,
    n_b: int,
    label_a: str = "in group A",
    label_b: str = "in group B",
    outcome: str = "of episodes were escalated within target",
    confidence: float = 0.95,
) -> Comparison:
    """Compare two proportions, e.g. compliance out of hours against in hours.

    Parameters
    ----------
    success_a, n_a, success_b, n_b : int
        Successes and totals in each group.
    label_a, label_b : str
        Phrases that read after a percentage: ``"out of hours"``, ``"in hours"``,
        ``"for Team North"``. ``label_a`` starts the wording (its first letter is capitalised).
    outcome : str, default "of episodes were escalated within target"
        What the percentage counts, read after it.
    confidence : float, default 0.95
        Level of the interval for the difference; the p-value threshold is ``1 - confidence``.

    Returns
    -------
    Comparison
        Effects (B compared with A): ``difference_pp`` (percentage points, with Newcombe
        hybrid score interval), ``relative_risk`` (p_B / p_A) and ``odds_ratio``.

    Notes
    -----
    Pearson's chi-square without continuity correction when all four expected counts are
    at least 5; otherwise Fisher's exact test (two-sided). For Fisher, ``statistic`` is
    scipy's sample odds ratio of A vs B.

    Examples
    --------
    >>> result = compare_proportions(61, 100, 82, 100, "out of hours", "in hours",
    ...                              "of escalations were within target")
    >>> print(result.wording)  # doctest: +NORMALIZE_WHITESPACE
    Out of hours, 61% of escalations were within target compared with 82% in hours
    (a difference of 21 percentage points, 95% CI 9 to 33). A difference this large is
    unlikely to be chance (p = 0.001).
    """
    for successes, total in ((success_a, n_a), (success_b, n_b)):
        if not 0 <= successes <= total:
            raise ValueError("Counts must satisfy 0 <= successes <= total.")
    if n_a == 0 or n_b == 0:
        return _empty_comparison("none", (label_a, label_b), (n_a, n_b), confidence, "episodes")
    table = np.array([[success_a, n_a - success_a], [success_b, n_b - success_b]])
    test, statistic, p_value = _proportion_test(table)
    effects = _proportion_effects(success_a, n_a, success_b, n_b, label_a, label_b, confidence)
    description = (
        f"{_sentence_start(label_a)}, {_format_percent(success_a / n_a)} {outcome} compared "
        f"with {_format_percent(success_b / n_b)} {label_b} "
        f"({_difference_phrase(effects['difference_pp'], confidence)})."
    )
    return _judged(test, statistic, p_value, effects, (label_a, label_b), (n_a, n_b), confidence, description)
