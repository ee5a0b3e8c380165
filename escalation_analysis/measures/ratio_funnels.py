"""Funnel plots of standardised ratios: observed / expected, with exact Poisson limits.

A standardised ratio compares what a unit (a team) did with what was expected of it, e.g.
episodes escalated within target against the number expected for its case mix
(:mod:`~escalation_analysis.measures.casemix`). 1 means "as expected". On the funnel, x is the
expected count and the limits narrow as it grows.

Limits at expected count E, for the centre line θ (1 unless told):

* **exact Poisson** (FunnelPlotR ``R/calculate_limits.R``, ``data_type = "SR"``, unadjusted):
  lower θ·χ²₀.₀₂₅(2E)/(2E), upper θ·χ²₀.₉₇₅(2E + 2)/(2E) for 95%, and 0.001 / 0.999 for
  99.8%;
* **normal, with a variance per unit** (for counts that are sums of binomial outcomes, whose
  variance Σnᵢpᵢ(1 − pᵢ) is well below the Poisson E when the outcome is common): 1 ± z·√V/E,
  so each unit is judged on its own variance; the curve uses the service's V/E ratio.

Overdispersion (``overdispersion="additive"``) follows FunnelPlotR's default for ratios, the
NHS Digital SHMI method (``sr_method = "SHMI"``): z = √E·log(O/E), the 10% most extreme
z-scores at each end truncated (left out), φ the mean square of the rest, τ² by
DerSimonian–Laird, limits exp(±z·√(1/E + τ²)); with a variance per unit the z-scores are
(O − E)/√V, Winsorised, and the limits 1 ± z·√(V/E² + τ²). Adjusted limits are used only when
φ > 1, as in FunnelPlotR.

Outliers are judged on the limits in use by :func:`~escalation_analysis.measures.funnels.flag_outliers`
(a unit on a limit is within it). PHEindicatormethods judges a ratio instead by whether its
exact (fewer than 10 events) or Byar's confidence interval excludes 1:
:func:`phe_ratio_significance`, and draws its funnel by observed count: :func:`phe_ratio_limits`.

Known answers (``tests/test_ratio_funnels.py``): FunnelPlotR's Poisson-limit and outlier tests
and PHEindicatormethods' published ratio limits and significance of 300 areas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from .funnels import (
    LIMIT_COLUMNS,
    Z_95,
    Z_998,
    FunnelResult,
    Overdispersion,
    flag_outliers,
    funnel_positions,
)

__all__ = [
    "phe_ratio_limits",
    "phe_ratio_significance",
    "ratio_funnel",
    "ratio_funnel_limits",
]

_LEVELS: tuple[tuple[str, float, float], ...] = (("95", 0.025, Z_95), ("998", 0.001, Z_998))

PHE_SIGNIFICANCE: dict[str, str] = {
    "above_99.8": "High (0.001)",
    "above_95": "High (0.025)",
    "within": "Not significant",
    "below_95": "Low (0.025)",
    "below_99.8": "Low (0.001)",
}
"""Our funnel positions in PHEindicatormethods' words."""


def ratio_funnel_limits(
    expected: ArrayLike, target: float = 1.0, *, variance_ratio: float | None = None
) -> pd.DataFrame:
    """95% and 99.8% limits for an observed / expected ratio at each expected count.

    ``variance_ratio`` (V/E, e.g. the service's Σnp(1 − p) / Σnp) gives the normal limits
    1 ± z·√(variance_ratio/E) instead of the exact Poisson ones.

    Returns ``denominator`` (the expected count), ``target`` and ``lower_95``, ``upper_95``,
    ``lower_998``, ``upper_998``.

    FunnelPlotR's ``test-poisson_limits.R``:

    >>> limits = ratio_funnel_limits([15, 20, 30])
    >>> [round(float(v), 7) for v in limits["lower_95"]]
    [0.5596924, 0.610826, 0.6746958]
    """
    e = np.asarray(expected, dtype=float).ravel()
    if not np.isfinite(e).all() or (e <= 0).any():
        raise ValueError("Expected counts must be positive numbers.")
    columns: dict[str, np.ndarray] = {"denominator": e, "target": np.full(e.shape, float(target))}
    for suffix, tail, z in _LEVELS:
        if variance_ratio is None:
            lower = special.chdtri(2 * e, 1 - tail) / 2 / e
            upper = special.chdtri(2 * (e + 1), tail) / 2 / e
        else:
            half = z * np.sqrt(variance_ratio / e)
            lower, upper = 1 - half, 1 + half
        columns[f"lower_{suffix}"] = np.maximum(target * lower, 0.0)
        columns[f"upper_{suffix}"] = target * upper
    return pd.DataFrame(columns)


def ratio_funnel(
    data: pd.DataFrame,
    observed: str,
    expected: str,
    unit: str | None = None,
    *,
    variance: str | None = None,
    overdispersion: str | None = None,
    trim: float = 0.1,
) -> FunnelResult:
    """Place each unit's observed / expected ratio on a funnel and flag the outliers.

    Parameters
    ----------
    data
        One row per unit (rows of the same unit are added together).
    observed, expected
        Columns of observed and expected counts.
    unit
        Column naming the unit. Default: the index.
    variance
        Optional column of each unit's variance of the observed count under the null (e.g.
        Σnp(1 − p) from :func:`~escalation_analysis.measures.casemix.team_ratios`): normal
        limits on it instead of exact Poisson ones.
    overdispersion
        ``None`` (default) or ``"additive"`` (see the module docstring).
    trim
        Share of z-scores truncated (Poisson) or Winsorised (with a variance) at each end.

    Returns
    -------
    FunnelResult
        ``statistic`` ``"ratio"``; units with ``unit``, ``observed``, ``expected``,
        ``ratio``, ``target`` (1), ``z_score``, ``winsorised_z``, the limits at the unit's
        expected count (and its own variance), the ``od_`` limits, ``flag_95``, ``flag_998``
        and ``position``; the curve with ``denominator`` the expected count.

    Raises
    ------
    ValueError
        For a missing column, missing or negative counts, or an expected count that is not
        positive.
    """
    columns = [c for c in (observed, expected, unit, variance) if c is not None]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"Column '{missing[0]}' is not in the data.")
    if overdispersion not in (None, "additive"):
        raise ValueError("overdispersion must be 'additive' or None.")
    table = pd.DataFrame(
        {
            "unit": (data[unit] if unit is not None else data.index.to_series()).to_numpy(),
            "observed": pd.to_numeric(data[observed], errors="coerce").to_numpy(),
            "expected": pd.to_numeric(data[expected], errors="coerce").to_numpy(),
            "variance": pd.to_numeric(data[variance], errors="coerce").to_numpy()
            if variance is not None else np.nan,
        }
    )
    if table[["observed", "expected"]].isna().any().any() or (table["observed"] < 0).any():
        raise ValueError("Observed and expected counts must be numbers, none missing or negative.")
    if (table["expected"] <= 0).any() or (variance is not None and (table["variance"] <= 0).any()):
        raise ValueError("Expected counts and variances must be greater than zero.")
    table = table.groupby("unit", sort=False, as_index=False)[["observed", "expected", "variance"]].sum(min_count=1)
    o, e = table["observed"].to_numpy(float), table["expected"].to_numpy(float)
    v = table["variance"].to_numpy(float) if variance is not None else None
    table["ratio"] = o / e
    table["target"] = 1.0
    variance_ratio = None if v is None else float(v.sum() / e.sum())
    unit_limits = _unit_limits(e, v, 0.0)
    for column in LIMIT_COLUMNS:
        table[column] = unit_limits[column]

    z, s = _z_scores(o, e, v)
    table["z_score"] = z
    table["winsorised_z"] = np.nan
    warnings: list[str] = []
    od: Overdispersion | None = None
    adjusted = False
    if overdispersion == "additive":
        od = _overdispersion(z, s, trim, truncate=v is None)
        table["winsorised_z"] = od.winsorised.to_numpy()
        adjusted = bool(np.isfinite(od.phi) and od.phi > 1)
        if not adjusted:
            warnings.append("No overdispersion was found (phi ≤ 1), so limits are unadjusted.")
    od_limits = _unit_limits(e, v, od.tau2 if adjusted and od else 0.0, adjusted=adjusted)
    for column in LIMIT_COLUMNS:
        table[f"od_{column}"] = od_limits[column] if adjusted else np.nan
    prefix = "od_" if adjusted else ""
    for suffix in ("95", "998"):
        table[f"flag_{suffix}"] = flag_outliers(
            table["ratio"], table[f"{prefix}lower_{suffix}"], table[f"{prefix}upper_{suffix}"]
        )
    table["position"] = funnel_positions(table["flag_95"], table["flag_998"])
    curve = _curve(e, variance_ratio, od.tau2 if adjusted and od else None, v is None)
    ordered = ["unit", "observed", "expected", "ratio", "target", "z_score", "winsorised_z",
               *LIMIT_COLUMNS, *(f"od_{c}" for c in LIMIT_COLUMNS), "flag_95", "flag_998", "position"]
    return FunnelResult(
        units=table[ordered],
        limits=curve,
        target=1.0,
        method="poisson" if v is None else "normal",
        overdispersion=od,
        adjusted=adjusted,
        warnings=warnings,
        statistic="ratio",
    )


def phe_ratio_significance(observed: ArrayLike, expected: ArrayLike) -> np.ndarray:
    """PHEindicatormethods' significance of observed / expected against 1 (``R/Funnels.R``).

    The ratio's confidence interval is exact (χ²) below 10 events and Byar's approximation
    from 10; a unit is above the 99.8% limit when the lower end of its 99.8% interval exceeds
    1, and so on. Returns positions (:data:`~escalation_analysis.measures.funnels.FUNNEL_POSITIONS`);
    :data:`PHE_SIGNIFICANCE` gives PHE's words.
    """
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    flags = {}
    for suffix, p in (("95", 0.95), ("998", 0.998)):
        low = _phe_bound(o, p, "low") / e
        high = _phe_bound(o, p, "high") / e
        flags[suffix] = np.select([low > 1, high < 1], ["above", "below"], "within")
    return funnel_positions(flags["95"], flags["998"])


def phe_ratio_limits(observed: ArrayLike) -> pd.DataFrame:
    """PHEindicatormethods' ratio funnel drawn by observed count (``poisson_funnel``).

    For each observed count O, the expected counts at which O sits on each limit, and the
    limits as ratios O/E: ``observed``, ``lower_95_expected``, ``lower_95``,
    ``upper_95_expected``, ``upper_95`` and the same for 99.8%. The lower limit's E solves
    P(X ≤ O | E) = tail, the upper's P(X ≥ O | E) = tail (PHE finds them by bisection; here
    they are exact χ² quantiles).
    """
    o = np.asarray(observed, dtype=float)
    if (o < 1).any():
        raise ValueError("Observed counts must be at least 1.")
    out: dict[str, np.ndarray] = {"observed": o}
    for suffix, tail, _ in _LEVELS:
        lower_e = special.chdtri(2 * (o + 1), tail) / 2
        upper_e = special.chdtri(2 * o, 1 - tail) / 2
        out[f"lower_{suffix}_expected"] = lower_e
        out[f"lower_{suffix}"] = o / lower_e
        out[f"upper_{suffix}_expected"] = upper_e
        out[f"upper_{suffix}"] = o / upper_e
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------------
# helpers


def _phe_bound(o: np.ndarray, p: float, side: str) -> np.ndarray:
    """PHE's ``funnel_ratio_significance`` before dividing by the expected count."""
    z = special.ndtri(0.5 + p / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        if side == "low":
            exact = special.chdtri(2 * np.maximum(o, 1e-300), 0.5 + p / 2) / 2
            byar = o * (1 - 1 / (9 * o) - z / 3 / np.sqrt(o)) ** 3
            return np.where(o == 0, 0.0, np.where(o < 10, exact, byar))
        exact = special.chdtri(2 * o + 2, 0.5 - p / 2) / 2
        o1 = o + 1
        byar = o1 * (1 - 1 / (9 * o1) + z / 3 / np.sqrt(o1)) ** 3
        return np.where(o < 10, exact, byar)


def _unit_limits(
    e: np.ndarray, v: np.ndarray | None, tau2: float, *, adjusted: bool = False
) -> dict[str, np.ndarray]:
    """Limits at each unit's expected count (and its own variance)."""
    out: dict[str, np.ndarray] = {}
    for suffix, tail, z in _LEVELS:
        if v is not None:
            half = z * np.sqrt(v / e**2 + tau2)
            lower, upper = 1 - half, 1 + half
        elif adjusted:  # SHMI: log scale
            half = z * np.sqrt(1 / e + tau2)
            lower, upper = np.exp(-half), np.exp(half)
        else:
            lower = special.chdtri(2 * e, 1 - tail) / 2 / e
            upper = special.chdtri(2 * (e + 1), tail) / 2 / e
        out[f"lower_{suffix}"] = np.maximum(lower, 0.0)
        out[f"upper_{suffix}"] = upper
    return out


def _z_scores(o: np.ndarray, e: np.ndarray, v: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """z-scores and standard errors on the adjustment's scale (SHMI log, or normal with V)."""
    if v is None:
        with np.errstate(divide="ignore"):
            return np.sqrt(e) * np.log(o / e), 1 / np.sqrt(e)
    return (o - e) / np.sqrt(v), np.sqrt(v) / e


def _overdispersion(z: np.ndarray, s: np.ndarray, trim: float, *, truncate: bool) -> Overdispersion:
    """φ and τ² (FunnelPlotR ``truncation`` or ``winsorisation``, ``phi_func``, ``tau_func``)."""
    if not 0 < trim < 0.5:
        raise ValueError("trim must be between 0 and 0.5.")
    if truncate:
        k = 1 / trim
        ranks = pd.Series(z).rank(method="average").to_numpy()
        group = np.floor(ranks * k / (len(z) + 1))
        kept = np.where((group > 0) & (group < k - 1), z, np.nan)
    else:
        finite = z[np.isfinite(z)]
        low, high = np.quantile(finite, [trim, 1 - trim])
        kept = np.where(np.isfinite(z), np.clip(z, low, high), np.nan)
    use = np.isfinite(kept)
    n = int(use.sum())
    if n == 0:
        return Overdispersion(np.nan, 0.0, 0, "ratio", pd.Series(z), pd.Series(kept))
    phi = float(np.sum(kept[use] ** 2) / n)
    w = 1 / s[use] ** 2
    tau2 = 0.0 if n * phi < n - 1 else max(0.0, (n * phi - (n - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return Overdispersion(phi, float(tau2), n, "log" if truncate else "normal", pd.Series(z), pd.Series(kept))


def _curve(e: np.ndarray, variance_ratio: float | None, tau2: float | None, poisson: bool) -> pd.DataFrame:
    """Limits over a grid of expected counts up to a little beyond the largest unit."""
    top = max(2.0, float(e.max()) * 1.1)
    grid = np.union1d(np.geomspace(1.0, top, 300), e)
    curve = ratio_funnel_limits(grid, variance_ratio=variance_ratio)
    if tau2 is not None:
        adjusted = _unit_limits(grid, None if poisson else variance_ratio * grid, tau2, adjusted=True)
        for column in LIMIT_COLUMNS:
            curve[f"od_{column}"] = adjusted[column]
    return curve
