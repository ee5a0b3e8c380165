"""Funnel plots for comparing teams' proportions, e.g. compliance = within target / episodes.

A funnel plot puts each unit (a team, a locality) at its denominator on the x axis and its
proportion on the y axis, against control limits round a target that narrow as the
denominator grows (Spiegelhalter 2005, *Stat Med* 24:1185, doi:10.1002/sim.1970). Units
outside the 95% limits are "above/below 95", outside the 99.8% limits "above/below 99.8".

Three ways to draw the unadjusted limits, all for the same target θ₀ and denominator n:

``"exact"``
    Binomial quantiles with Spiegelhalter's interpolation (2005, appendix A.1.1): for the
    lower-tail probability p let r be the smallest count with P(Y ≤ r) ≥ p for Y ~ Bin(n, θ₀);
    then α = (P(Y ≤ r) − p) / P(Y = r) and the limit is (r − α)/n, so the limits are smooth in
    n. ``interpolate=False`` gives the plain step limits r/n of R's funnelR (``R/fundata.R``,
    ``qbinom(p, n, theta)/n``).
``"normal"``
    θ₀ ± z·sqrt(θ₀(1 − θ₀)/n), clipped to [0, 1]. This is what the PHE/OHID Fingertips method
    computes: PHEindicatormethods' ``sigma_adjustment`` (``R/Funnels.R``) inverts the Wilson
    score interval, and algebraically that inversion is exactly this normal limit; the tests
    reproduce PHEindicatormethods' published limits table to 6 decimal places.
``"arcsine"``
    The variance-stabilised limits FunnelPlotR draws for proportions (``R/calculate_limits.R``,
    ``data_type = "PR"``): sin²(asin√θ₀ ± z/(2√n)), truncated to [0, 1].

z is the exact normal quantile, 1.959964 for 95% and 3.090232 for 99.8% (two-sided 0.025 and
0.001 tails: PHEindicatormethods' ``qnorm(0.975)`` and ``qnorm(0.999)``; FunnelPlotR writes the
same constants rounded to 6 decimal places, a difference below 1e-6).

Overdispersion (Spiegelhalter 2005, *Qual Saf Health Care* 14:347; FunnelPlotR
``R/od_adjustment.R``): each unit gets a z-score on the chosen scale (FunnelPlotR's arcsine
scale by default, zᵢ = (asin√pᵢ − asin√θ₀)·2√nᵢ; or the plain normal scale,
zᵢ = (pᵢ − θ₀)/sqrt(θ₀(1 − θ₀)/nᵢ)); the z-scores are Winsorised at the 10th and 90th
percentiles (R's default quantile, type 7); φ is the mean of the squared Winsorised z-scores.

* ``"additive"`` (FunnelPlotR's default, a DerSimonian–Laird random effect): with weights
  wᵢ = 1/sᵢ², τ² = max(0, (nφ − (n − 1)) / (Σw − Σw²/Σw)), and τ² = 0 whenever nφ < n − 1;
  adjusted limits use sqrt(sᵢ² + τ²) for sᵢ. Adjusted limits are used only when φ > 1,
  exactly as FunnelPlotR falls back to unadjusted limits when ``phi <= 1`` (``R/funnel_plot.R``),
  even though τ² is already positive for (n − 1)/n < φ ≤ 1.
* ``"multiplicative"`` (Spiegelhalter 2005): when φ > 1 the standard error is inflated to
  sqrt(φ)·sᵢ.
* ``None``: no adjustment.

When adjusted limits are in use they decide each unit's flags, as in FunnelPlotR's
``outliers_func``; a unit exactly on a limit is within it.

Deviation from FunnelPlotR: its per-unit arcsine limits are not truncated, so a lower limit
whose angle falls below zero wraps round to a positive value; here angles are clamped to
[0, π/2], which gives the same curve as FunnelPlotR's plotted (truncated) limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from .statistics import binomial_cdf, binomial_quantile

__all__ = [
    "FUNNEL_POSITIONS",
    "FunnelResult",
    "Overdispersion",
    "compute_funnel",
    "compute_funnel_limits",
    "estimate_overdispersion",
    "flag_outliers",
    "funnel_positions",
]

LimitMethod = Literal["exact", "normal", "arcsine"]
Scale = Literal["arcsine", "normal"]
Adjustment = Literal["additive", "multiplicative"]

Z_95: float = float(special.ndtri(0.975))
"""Two-sided 95% normal quantile, 1.959964 (PHEindicatormethods' ``qnorm(0.975)``)."""

Z_998: float = float(special.ndtri(0.999))
"""Two-sided 99.8% normal quantile, 3.090232 (PHEindicatormethods' ``qnorm(0.999)``)."""

_LEVELS: tuple[tuple[str, float, float], ...] = (
    # suffix, lower-tail probability, z
    ("95", 0.025, Z_95),
    ("998", 0.001, Z_998),
)

LIMIT_COLUMNS: tuple[str, ...] = ("lower_95", "upper_95", "lower_998", "upper_998")

FUNNEL_POSITIONS: tuple[str, ...] = (
    "above_99.8",
    "above_95",
    "within",
    "below_95",
    "below_99.8",
)
"""Values of the ``position`` column, most extreme first."""


@dataclass(frozen=True)
class Overdispersion:
    """Spiegelhalter's overdispersion estimate for a set of units.

    Attributes
    ----------
    phi
        Dispersion ratio φ: the mean of the squared Winsorised z-scores (1 = no extra
        variation between units).
    tau2
        DerSimonian–Laird between-unit variance τ² on the z-score scale (0 when nφ < n − 1).
    n_units
        Units with a z-score.
    scale
        ``"arcsine"`` or ``"normal"``: the scale of the z-scores and of τ².
    z_scores
        Unadjusted z-scores, one per unit, in input order.
    winsorised
        The Winsorised z-scores used for φ.
    """

    phi: float
    tau2: float
    n_units: int
    scale: str
    z_scores: pd.Series = field(repr=False)
    winsorised: pd.Series = field(repr=False)


@dataclass(frozen=True)
class FunnelResult:
    """A funnel plot's data: one row per unit and a limits curve to draw.

    Attributes
    ----------
    units
        One row per unit: ``unit``, ``numerator``, ``denominator``, ``proportion``,
        ``target``, ``z_score`` (unadjusted, on the overdispersion scale), ``winsorised_z``;
        the unadjusted limits ``lower_95``, ``upper_95``, ``lower_998``, ``upper_998``; the
        overdispersion-adjusted ``od_lower_95`` ... ``od_upper_998`` (missing when no
        adjustment is in use); ``flag_95`` and ``flag_998`` (``"above"``, ``"below"`` or
        ``"within"``, judged against the limits in use) and ``position`` (one of
        :data:`FUNNEL_POSITIONS`).
    limits
        The curve for plotting: ``denominator``, ``target``, the four unadjusted limit
        columns and, when adjusted, the four ``od_`` columns, over integer denominators from
        1 to a little beyond the largest unit, plus every unit's denominator.
    target
        The centre line θ₀.
    method
        How the unadjusted limits were computed.
    overdispersion
        The φ and τ² estimate, or ``None`` when no adjustment was asked for.
    adjusted
        Whether adjusted limits are in use (they decide the flags).
    warnings
        Plain-English notes, e.g. why no adjustment was made.
    """

    units: pd.DataFrame
    limits: pd.DataFrame
    target: float
    method: str
    overdispersion: Overdispersion | None
    adjusted: bool
    warnings: list[str] = field(default_factory=list)
    statistic: str = "proportion"
    """``"proportion"`` (:func:`compute_funnel`) or ``"ratio"`` (observed / expected,
    :func:`~escalation_analysis.measures.ratio_funnels.ratio_funnel`, whose units carry
    ``observed``, ``expected`` and ``ratio`` and whose curve's x is the expected count)."""


def flag_outliers(values: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> np.ndarray:
    """``"above"``, ``"below"`` or ``"within"``: each value judged on the limits given.

    A value exactly on a limit is within it, as FunnelPlotR's ``outliers_func``
    (``rr <= UCL & rr >= LCL``). Missing limits flag nothing.

    >>> flag_outliers([1.0, 0.8, 1.2, 1.1], 0.9, 1.1).tolist()
    ['within', 'below', 'above', 'within']
    """
    values, lower, upper = (np.asarray(v, dtype=float) for v in (values, lower, upper))
    return np.select([values > upper, values < lower], ["above", "below"], "within")


def funnel_positions(flag_95: ArrayLike, flag_998: ArrayLike) -> np.ndarray:
    """One of :data:`FUNNEL_POSITIONS` from the 95% and 99.8% flags, most extreme first."""
    flag_95, flag_998 = np.asarray(flag_95), np.asarray(flag_998)
    return np.select(
        [flag_998 == "above", flag_95 == "above", flag_998 == "below", flag_95 == "below"],
        ["above_99.8", "above_95", "below_99.8", "below_95"],
        default="within",
    )


def compute_funnel_limits(
    denominator: ArrayLike,
    target: float,
    *,
    method: LimitMethod = "exact",
    interpolate: bool = True,
) -> pd.DataFrame:
    """Compute unadjusted 95% and 99.8% funnel limits for a proportion.

    Parameters
    ----------
    denominator
        Denominators (e.g. episodes) at which to compute the limits; whole numbers for
        ``"exact"``.
    target
        The centre line θ₀, a proportion in [0, 1].
    method
        ``"exact"`` (binomial), ``"normal"`` (PHE Fingertips) or ``"arcsine"`` (FunnelPlotR);
        see the module docstring.
    interpolate
        For ``"exact"``: Spiegelhalter's interpolation between binomial quantiles (default);
        ``False`` gives funnelR's step limits r/n.

    Returns
    -------
    pandas.DataFrame
        ``denominator``, ``target``, ``lower_95``, ``upper_95``, ``lower_998``,
        ``upper_998``, as proportions clipped to [0, 1].

    Raises
    ------
    ValueError
        For a target outside [0, 1], a denominator that is not positive, a fractional
        denominator with ``"exact"`` or an unknown method.

    Examples
    --------
    PHEindicatormethods' published limits at a population of 50 round 80.642448%:

    >>> limits = compute_funnel_limits([50], 0.80642448, method="normal")
    >>> [round(100 * v, 4) for v in limits.iloc[0, 2:]]
    [69.691, 91.5939, 63.3756, 97.9093]
    """
    n = _check_denominators(denominator, integer=method == "exact")
    _check_target(target)
    columns: dict[str, np.ndarray] = {"denominator": n, "target": np.full(n.shape, target)}
    for suffix, tail, z in _LEVELS:
        if method == "exact":
            lower = _binomial_limit(n, target, tail, interpolate)
            upper = _binomial_limit(n, target, 1 - tail, interpolate)
        elif method == "normal":
            half = z * np.sqrt(target * (1 - target) / n)
            lower, upper = target - half, target + half
        elif method == "arcsine":
            s = 1 / (2 * np.sqrt(n))
            lower, upper = _arcsine_limits(target, z * s)
        else:
            raise ValueError(f"method must be 'exact', 'normal' or 'arcsine', not {method!r}.")
        columns[f"lower_{suffix}"] = np.clip(lower, 0.0, 1.0)
        columns[f"upper_{suffix}"] = np.clip(upper, 0.0, 1.0)
    return pd.DataFrame(columns)


def estimate_overdispersion(
    numerator: ArrayLike,
    denominator: ArrayLike,
    target: float | None = None,
    *,
    scale: Scale = "arcsine",
    trim: float = 0.1,
) -> Overdispersion:
    """Estimate Spiegelhalter's dispersion ratio φ and between-unit variance τ².

    Parameters
    ----------
    numerator, denominator
        Counts per unit.
    target
        θ₀; default the pooled proportion Σ numerator / Σ denominator (FunnelPlotR).
    scale
        ``"arcsine"`` (FunnelPlotR's proportions) or ``"normal"`` (Spiegelhalter 2005).
    trim
        Winsorise the z-scores at these quantiles: 0.1 means the 10th and 90th percentiles.

    Returns
    -------
    Overdispersion
        φ, τ², the number of units and the z-scores.

    Notes
    -----
    FunnelPlotR ``transformed_zscore``, ``winsorisation``, ``phi_func`` and ``tau_func``
    (``R/od_adjustment.R``): zᵢ = (Yᵢ − Y₀)/sᵢ; the z-scores below the ``trim`` quantile
    (R type 7) are raised to it and those above the ``1 − trim`` quantile lowered to it;
    φ = Σ z_w²/n; τ² = 0 if nφ < n − 1, else max(0, (nφ − (n − 1))/(Σwᵢ − Σwᵢ²/Σwᵢ)) with
    wᵢ = 1/sᵢ².

    Examples
    --------
    >>> od = estimate_overdispersion([10, 30, 50, 70, 90], [100] * 5)
    >>> round(od.phi, 2), round(od.tau2, 4)
    (27.57, 0.0836)
    """
    num, den = _check_counts(numerator, denominator)
    theta = float(num.sum() / den.sum()) if target is None else float(target)
    _check_target(theta)
    if not 0 < trim < 0.5:
        raise ValueError("trim must be between 0 and 0.5.")
    z, s = _z_scores(num, den, theta, scale)
    finite = np.isfinite(z)
    zf = z[finite]
    if zf.size == 0:
        nan = pd.Series(np.full(z.shape, np.nan))
        return Overdispersion(np.nan, 0.0, 0, scale, pd.Series(z), nan)
    low, high = np.quantile(zf, [trim, 1 - trim])  # numpy "linear" = R type 7
    winsorised = np.where(finite, np.clip(z, low, high), np.nan)
    n_units = int(zf.size)
    phi = float(np.sum(winsorised[finite] ** 2) / n_units)
    w = 1 / s[finite] ** 2
    if n_units * phi < n_units - 1:
        tau2 = 0.0
    else:
        tau2 = max(0.0, (n_units * phi - (n_units - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    return Overdispersion(
        phi=phi,
        tau2=float(tau2),
        n_units=n_units,
        scale=scale,
        z_scores=pd.Series(z),
        winsorised=pd.Series(winsorised),
    )


def compute_funnel(
    data: pd.DataFrame,
    numerator: str,
    denominator: str,
    unit: str | None = None,
    *,
    target: float | None = None,
    method: LimitMethod = "exact",
    interpolate: bool = True,
    overdispersion: Adjustment | None = "additive",
    scale: Scale = "arcsine",
    trim: float = 0.1,
) -> FunnelResult:
    """Place each unit on a funnel plot and flag those outside the 95% and 99.8% limits.

    Parameters
    ----------
    data
        One row per unit (rows for the same unit are added together first, as FunnelPlotR's
        ``aggregate_func`` does).
    numerator, denominator
        Columns of counts, e.g. episodes escalated within target and all episodes.
    unit
        Column naming the unit (a team). Default: the index.
    target
        Centre line θ₀; default the pooled proportion. Pass a contractual target to judge
        units against it instead.
    method, interpolate
        Unadjusted limits, as :func:`compute_funnel_limits`.
    overdispersion
        ``"additive"`` (FunnelPlotR's random-effects τ²; the default), ``"multiplicative"``
        (√φ inflation) or ``None``.
    scale, trim
        As :func:`estimate_overdispersion`; the adjusted limits are drawn on this scale.

    Returns
    -------
    FunnelResult
        The unit table and the limits curve; see :class:`FunnelResult`.

    Raises
    ------
    ValueError
        For missing, negative or fractional counts, a numerator above its denominator, a
        zero denominator, an unknown method or a target outside [0, 1].

    Examples
    --------
    >>> teams = pd.DataFrame({"team": ["A", "B", "C", "D"],
    ...                       "ok": [40, 45, 20, 160], "all": [50, 50, 50, 200]})
    >>> funnel = compute_funnel(teams, "ok", "all", "team", overdispersion=None)
    >>> funnel.units[["unit", "position"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'unit': 'A', 'position': 'within'}, {'unit': 'B', 'position': 'above_95'},
     {'unit': 'C', 'position': 'below_99.8'}, {'unit': 'D', 'position': 'within'}]
    """
    for column in (numerator, denominator):
        if column not in data.columns:
            raise ValueError(f"Column '{column}' is not in the data.")
    if unit is not None and unit not in data.columns:
        raise ValueError(f"Column '{unit}' is not in the data.")
    if overdispersion not in ("additive", "multiplicative", None):
        raise ValueError("overdispersion must be 'additive', 'multiplicative' or None.")
    if scale not in ("arcsine", "normal"):
        raise ValueError("scale must be 'arcsine' or 'normal'.")
    units = data[unit] if unit is not None else data.index.to_series()
    counts = pd.DataFrame(
        {
            "unit": units.to_numpy(),
            "numerator": pd.to_numeric(data[numerator], errors="coerce").to_numpy(),
            "denominator": pd.to_numeric(data[denominator], errors="coerce").to_numpy(),
        }
    )
    if counts[["numerator", "denominator"]].isna().any().any():
        raise ValueError("Numerators and denominators must be numbers with none missing.")
    table = counts.groupby("unit", sort=False, as_index=False)[["numerator", "denominator"]].sum()
    num, den = _check_counts(table["numerator"], table["denominator"])
    theta = float(num.sum() / den.sum()) if target is None else float(target)
    _check_target(theta)

    table["proportion"] = num / den
    table["target"] = theta
    unadjusted = compute_funnel_limits(den, theta, method=method, interpolate=interpolate)
    for column in LIMIT_COLUMNS:
        table[column] = unadjusted[column].to_numpy()

    warnings: list[str] = []
    od: Overdispersion | None = None
    adjusted = False
    if overdispersion is not None:
        od = estimate_overdispersion(num, den, theta, scale=scale, trim=trim)
        table["z_score"] = od.z_scores.to_numpy()
        table["winsorised_z"] = od.winsorised.to_numpy()
        if not np.isfinite(od.phi):
            warnings.append("No overdispersion could be estimated, so limits are unadjusted.")
        else:
            # FunnelPlotR (R/funnel_plot.R) draws adjusted limits only when phi > 1, for the
            # additive adjustment too, although tau² is already positive above (n - 1)/n
            adjusted = od.phi > 1
            if not adjusted:
                warnings.append("No overdispersion was found (phi ≤ 1), so limits are unadjusted.")
    else:
        z, _ = _z_scores(num, den, theta, scale)
        table["z_score"] = z
        table["winsorised_z"] = np.nan

    od_table = _adjusted_limits(den, theta, od, overdispersion, scale, adjusted)
    for column in LIMIT_COLUMNS:
        table[f"od_{column}"] = od_table[column]

    prefix = "od_" if adjusted else ""
    for suffix in ("95", "998"):
        table[f"flag_{suffix}"] = flag_outliers(
            table["proportion"], table[f"{prefix}lower_{suffix}"], table[f"{prefix}upper_{suffix}"]
        )
    table["position"] = funnel_positions(table["flag_95"], table["flag_998"])
    ordered = [
        "unit",
        "numerator",
        "denominator",
        "proportion",
        "target",
        "z_score",
        "winsorised_z",
        *LIMIT_COLUMNS,
        *(f"od_{c}" for c in LIMIT_COLUMNS),
        "flag_95",
        "flag_998",
        "position",
    ]
    curve = _limits_curve(den, theta, method, interpolate, od, overdispersion, scale, adjusted)
    return FunnelResult(
        units=table[ordered],
        limits=curve,
        target=theta,
        method=method,
        overdispersion=od,
        adjusted=adjusted,
        warnings=warnings,
    )


# --------------------------------------------------------------------------------------------
# helpers


def _check_target(target: float) -> None:
    if not (np.isfinite(target) and 0 <= target <= 1):
        raise ValueError("The target must be a proportion between 0 and 1.")


def _check_denominators(denominator: ArrayLike, *, integer: bool) -> np.ndarray:
    n = np.asarray(denominator, dtype=float).ravel()
    if not np.isfinite(n).all() or (n <= 0).any():
        raise ValueError("Denominators must be positive numbers.")
    if integer and not np.equal(np.round(n), n).all():
        raise ValueError("Exact binomial limits need whole-number denominators.")
    return n


def _check_counts(numerator: ArrayLike, denominator: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    num = np.asarray(numerator, dtype=float).ravel()
    den = np.asarray(denominator, dtype=float).ravel()
    if num.shape != den.shape:
        raise ValueError("Numerators and denominators must have the same length.")
    if not (np.isfinite(num).all() and np.isfinite(den).all()):
        raise ValueError("Numerators and denominators must be numbers with none missing.")
    if (num < 0).any():
        raise ValueError("Numerators must be greater than or equal to zero.")
    if (den <= 0).any():
        raise ValueError("Denominators must be greater than zero.")
    if (num > den).any():
        raise ValueError("A numerator is larger than its denominator.")
    return num, den


def _binomial_limit(n: np.ndarray, theta: float, p: float, interpolate: bool) -> np.ndarray:
    """Spiegelhalter's interpolated binomial p-quantile of Y/n (2005, appendix A.1.1)."""
    r = binomial_quantile(p, n, theta)
    if not interpolate:
        return r / n
    at_r = binomial_cdf(r, n, theta)
    below_r = binomial_cdf(r - 1, n, theta)
    with np.errstate(invalid="ignore", divide="ignore"):
        alpha = np.where(at_r > below_r, (at_r - p) / (at_r - below_r), 0.0)
    return (r - alpha) / n


def _arcsine_limits(target: float, half_width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin²(asin√θ₀ ∓ half-width), with the angle clamped to [0, π/2]."""
    centre = np.arcsin(np.sqrt(target))
    lower = np.sin(np.clip(centre - half_width, 0, np.pi / 2)) ** 2
    upper = np.sin(np.clip(centre + half_width, 0, np.pi / 2)) ** 2
    return lower, upper


def _standard_errors(den: np.ndarray, theta: float, scale: str) -> np.ndarray:
    if scale == "arcsine":
        return 1 / (2 * np.sqrt(den))
    return np.sqrt(theta * (1 - theta) / den)


def _z_scores(
    num: np.ndarray, den: np.ndarray, theta: float, scale: str
) -> tuple[np.ndarray, np.ndarray]:
    """FunnelPlotR ``transformed_zscore`` (arcsine) or Spiegelhalter's normal z-scores."""
    s = _standard_errors(den, theta, scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        if scale == "arcsine":
            z = (np.arcsin(np.sqrt(num / den)) - np.arcsin(np.sqrt(theta))) / s
        else:
            z = (num / den - theta) / s
    return z, s


def _adjusted_limits(
    den: np.ndarray,
    theta: float,
    od: Overdispersion | None,
    overdispersion: str | None,
    scale: str,
    adjusted: bool,
) -> dict[str, np.ndarray]:
    """Overdispersion-adjusted limits on ``scale`` (FunnelPlotR ``OD_limits``, ``PR``)."""
    if not adjusted or od is None:
        return {c: np.full(den.shape, np.nan) for c in LIMIT_COLUMNS}
    s = _standard_errors(den, theta, scale)
    se = np.sqrt(s**2 + od.tau2) if overdispersion == "additive" else np.sqrt(od.phi) * s
    out: dict[str, np.ndarray] = {}
    for suffix, _, z in _LEVELS:
        if scale == "arcsine":
            lower, upper = _arcsine_limits(theta, z * se)
        else:
            lower, upper = theta - z * se, theta + z * se
        out[f"lower_{suffix}"] = np.clip(lower, 0.0, 1.0)
        out[f"upper_{suffix}"] = np.clip(upper, 0.0, 1.0)
    return out


def _limits_curve(
    den: np.ndarray,
    theta: float,
    method: str,
    interpolate: bool,
    od: Overdispersion | None,
    overdispersion: str | None,
    scale: str,
    adjusted: bool,
    points: int = 300,
) -> pd.DataFrame:
    """Limits over a geometric grid of whole denominators from 1, plus the units' own."""
    top = max(2.0, float(np.ceil(den.max() * 1.1)))
    grid = np.unique(np.round(np.geomspace(1, top, points)))
    grid = np.union1d(grid, den)
    if method == "exact":
        grid = np.unique(np.round(grid))
    curve = compute_funnel_limits(grid, theta, method=method, interpolate=interpolate)
    if adjusted:
        od_columns = _adjusted_limits(grid, theta, od, overdispersion, scale, adjusted)
        for column in LIMIT_COLUMNS:
            curve[f"od_{column}"] = od_columns[column]
    return curve
