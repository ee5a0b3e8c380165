"""Escalation timeliness against the local pathway: delays, targets, compliance.

Definitions are the contract in ``docs/definitions.md``:

* **Delay to escalate**: real elapsed minutes from ``risk_identified_at`` to ``escalated_at``
  (timestamps are timezone-aware, so the clocks changing is handled by subtraction).
* **Band**: in or out of hours when risk was identified (:mod:`~escalation_analysis.measures.hours`).
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
import pyarrow as pa
import pyarrow.compute as pc

from ..ingest.accounting import RowAccounting, make_issues
from ..ingest.contract import as_text
from ..ingest.files import arrow_text, text_series
from ..ingest.pathway import Pathway
from .hours import classify_hours
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
    return _per_month(timestamps, _quarter_labels)[0]


def _quarter_labels(timestamps: pd.Series) -> pd.Series:
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


def _month_labels(timestamps: pd.Series) -> pd.Series:
    return timestamps.dt.strftime("%Y-%m")


def _per_month(timestamps: pd.Series, *labels) -> tuple[pd.Series, ...]:
    """``label(timestamps)`` for each of ``labels``, texts that depend only on the year and month.

    Written once per distinct month (two years of episodes: 24 labels) on a representative
    timestamp, then taken by every row: formatting a million dates one by one is what made
    month and quarter columns slow. The months are found once for all the labels.
    """
    wall = timestamps.dt.tz_localize(None) if timestamps.dt.tz is not None else timestamps
    months = wall.to_numpy().astype("datetime64[M]")
    codes, uniques = pd.factorize(months, use_na_sentinel=True)
    first = np.full(len(uniques), len(codes), dtype=np.int64)
    np.minimum.at(first, codes[codes >= 0], np.flatnonzero(codes >= 0))
    representatives = timestamps.iloc[first].reset_index(drop=True)
    indices = pa.array(codes, mask=codes < 0, type=pa.int64())
    out = []
    for label in labels:
        text = label(representatives).astype("str")
        text = arrow_text(text).combine_chunks() if len(text) else pa.array([], pa.large_string())
        out.append(text_series(text.take(indices), timestamps.index))
    return tuple(out)


def prepare_episodes(episodes: pd.DataFrame, pathway: Pathway) -> pd.DataFrame:
    """Add band, target, delay and within-target columns to loaded episodes.

    Returns a new frame (the input is not changed) with extra columns: ``band``,
    ``ooh_sub_band``, ``bank_holiday``, ``target_minutes``, ``escalated``,
    ``delay_minutes`` (missing when not escalated), ``within_target``,
    ``response_minutes``, ``month`` (``2025-04``), ``quarter`` (``2025/26 Q1``) and
    ``lone_worker_label``.
    """
    local_risk = episodes["risk_identified_at"].dt.tz_convert(pathway.timezone)
    hours = classify_hours(local_risk, pathway)
    out = {name: episodes[name] for name in episodes.columns}
    out.update({name: hours[name] for name in hours.columns})
    out["target_minutes"] = target_minutes(episodes["trigger"], hours["band"], pathway)
    out["escalated"] = episodes["escalated_at"].notna()
    out["delay_minutes"] = (episodes["escalated_at"] - episodes["risk_identified_at"]).dt.total_seconds() / 60
    out["within_target"] = (out["escalated"] & (out["delay_minutes"] <= out["target_minutes"])).astype(bool)
    out["response_minutes"] = (episodes["responded_at"] - episodes["escalated_at"]).dt.total_seconds() / 60
    out["month"], out["quarter"] = _per_month(local_risk, _month_labels, _quarter_labels)
    out["lone_worker_label"] = _lone_worker_labels(episodes["lone_worker"])
    return pd.DataFrame(out, index=episodes.index, copy=False)


def _lone_worker_labels(lone_worker: pd.Series) -> pd.Series:
    """"lone worker", "accompanied" or "not recorded", by position in a three-label table."""
    if lone_worker.dtype != "boolean":
        return lone_worker.map({True: "lone worker", False: "accompanied"}).astype("str").fillna("not recorded")
    missing = lone_worker.isna().to_numpy()
    codes = np.where(missing, 2, lone_worker.fillna(False).to_numpy(dtype=bool).astype(np.int64))
    labels = pa.array(["accompanied", "lone worker", "not recorded"], pa.large_string())
    return text_series(labels.take(pa.array(codes)), lone_worker.index)


def filter_period(
    episodes: pd.DataFrame, accounting: RowAccounting, start: dt.date, end: dt.date, timezone: str = "Europe/London"
) -> tuple[pd.DataFrame, RowAccounting]:
    """Keep episodes whose risk was identified between ``start`` and ``end`` inclusive.

    Episodes outside the period are excluded with reason ``outside_period``, so the row
    accounting still balances against the file.
    """
    inside = in_period(episodes, start, end, timezone)
    return episodes[inside].reset_index(drop=True), exclude_outside(episodes, accounting, inside, start, end)


def in_period(episodes: pd.DataFrame, start: dt.date, end: dt.date, timezone: str = "Europe/London") -> np.ndarray:
    """Which episodes' risk was identified between ``start`` and ``end`` (local dates, inclusive).

    Compares wall-clock timestamps with the period's first and last local midnight, the
    same test as comparing local dates, without making a Python date per episode.
    """
    wall = episodes["risk_identified_at"].dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[us]")
    first = np.datetime64(start, "us")
    after = np.datetime64(end + dt.timedelta(days=1), "us")
    values = wall.to_numpy()
    return (values >= first) & (values < after)


def first_and_last_dates(episodes: pd.DataFrame, timezone: str = "Europe/London") -> tuple[dt.date, dt.date]:
    """The local dates of the first and last risk identified (episodes not empty): the earliest
    instant has the earliest local date, so only the two ends are converted."""
    when = episodes["risk_identified_at"]
    return when.min().tz_convert(timezone).date(), when.max().tz_convert(timezone).date()


def exclude_outside(
    episodes: pd.DataFrame, accounting: RowAccounting, inside: np.ndarray, start: dt.date, end: dt.date
) -> RowAccounting:
    """The accounting with episodes outside the period excluded as ``outside_period``."""
    outside = make_issues(
        ~inside, episodes["row"], episodes["incident_id"], "outside_period", "risk_identified_at",
        f"outside {start:%d/%m/%Y} to {end:%d/%m/%Y}",
    )
    return accounting.exclude(outside)


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

    Notes
    -----
    To build many tables from one frame, use :class:`TimelinessTables`, which sorts the
    delays once for all of them.
    """
    return TimelinessTables(prepared).table(by)


class TimelinessTables:
    """:func:`compliance_table` for many groupings of one prepared frame.

    Every table needs counts per group and the median and 90th percentile delay per group.
    The delays are sorted once; a grouping then takes its group codes in that order, counts
    with one ``bincount`` and sorts the codes stably (a radix sort of small integers), so
    each group's delays come out sorted and its quantiles are read off by position, with
    the interpolation pandas' grouped ``quantile`` uses. The figures are identical to a
    ``groupby``, at a fraction of the cost.
    """

    def __init__(self, prepared: pd.DataFrame):
        self.prepared = prepared
        self._lean = all(
            c in prepared.columns and prepared[c].dtype == t
            for c, t in (("within_target", bool), ("escalated", bool), ("delay_minutes", np.float64))
        )
        if self._lean:
            self.within = prepared["within_target"].to_numpy()
            self.escalated = prepared["escalated"].to_numpy()
            self.delay = prepared["delay_minutes"].to_numpy()
        self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._flags: np.ndarray | None = None
        self._tables: dict[tuple, pd.DataFrame] = {}

    @property
    def order(self) -> np.ndarray:
        """Positions of the episodes by delay, missing delays last."""
        return self._by_delay()[0]

    def _by_delay(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The delay order, the delays in it, and each episode's flags in it (one small int).

        Flags: 4 within target, 2 escalated, 1 has a delay. Every table reads these three
        arrays, so the only per-table work on a million rows is its group codes.
        """
        if self._sorted is None:
            order = np.argsort(self.delay)
            self._flags = (4 * self.within + 2 * self.escalated + ~np.isnan(self.delay)).astype(np.int8)
            self._sorted = order, self.delay[order], self._flags[order]
        return self._sorted

    def table(self, by: str | list[str] | None = None, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """The compliance table; ``frame`` (same rows as ``prepared``) may supply the group column."""
        keys = [by] if isinstance(by, str) else list(by or [])
        if frame is None:
            frame = self.prepared
        else:
            frame = self.prepared.assign(**{column: frame[column] for column in frame.columns})
        if not self._lean or len(frame) == 0 or len(keys) > 1:
            return _grouped_table(frame, keys)
        cached = frame is self.prepared and tuple(keys) in self._tables
        if not cached:
            table = self._table(frame, keys)
            if frame is not self.prepared:
                return table
            self._tables[tuple(keys)] = table
        return self._tables[tuple(keys)].copy()

    def _table(self, frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        if not keys:
            return self._overall_table()
        column = GROUPINGS.get(keys[0], keys[0])
        grouped = self._list_groups(frame[column]) if column == "escalated_to" else self._groups(frame[column])
        if grouped is None:
            return _grouped_table(frame, keys)
        codes, labels, in_delay_order = grouped
        return _finish(*self._by_group(codes, labels.rename(keys[0]), in_delay_order), keys)

    def _overall_table(self) -> pd.DataFrame:
        within, escalated = self.within.astype(int), self.escalated.astype(int)
        counts = pd.DataFrame(
            {"n": [len(within)], "within_target": [within.sum()], "escalated": [escalated.sum()],
             "escalated_late": [(self.escalated & ~self.within).astype(int).sum()]}
        )
        delay = pd.Series(self.delay)
        quantiles = pd.DataFrame({0.5: [delay.quantile(0.5)], 0.9: [delay.quantile(0.9)]})
        return _finish(counts, quantiles, [])

    @staticmethod
    def _groups(values: pd.Series):
        """Group codes for a text column, sorted as ``groupby(sort=True, dropna=False)``.

        A categorical column is grouped by its labels as text (as ``compliance_table`` always
        has), straight from its codes.
        """
        if isinstance(values.dtype, pd.CategoricalDtype) and pd.api.types.is_string_dtype(values.cat.categories):
            text = values.cat.categories.to_numpy(dtype=object)
            rank = np.empty(len(text), dtype=np.int64)
            rank[np.argsort(text, kind="stable")] = np.arange(len(text))
            codes = np.append(rank, -1)[values.cat.codes.to_numpy()]
            uniques = pd.array(np.sort(text), dtype="str")
        elif values.dtype == "str":
            codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
        else:
            return None
        labels = pd.Index(uniques)
        if (codes < 0).any():
            labels = labels.append(pd.Index([np.nan], dtype=labels.dtype))
            codes = np.where(codes < 0, len(uniques), codes)
        return codes, labels, False

    def _list_groups(self, lists: pd.Series):
        """One entry per (episode, agency), in delay order: episodes without agencies drop out.

        Each entry is put at its place in delay order by position (an episode's entries keep
        their order in its list), instead of taking the lists in that order, which copied
        every list and its text: half the time of the agency table on a million episodes.
        """
        if not isinstance(lists.dtype, pd.ArrowDtype):
            return None
        arrow = pa.chunked_array(lists.array.__arrow_array__()).combine_chunks()
        grouped = self._groups(text_series(pc.list_flatten(arrow)))
        if grouped is None:
            return None
        codes, labels, _ = grouped
        parents = pc.list_parent_indices(arrow).to_numpy()
        counts = np.bincount(parents, minlength=len(arrow))
        order = self.order
        start = np.empty(len(arrow), dtype=np.int64)
        start[order] = np.cumsum(counts[order]) - counts[order]  # where each episode's entries begin, in delay order
        at = start[parents] + np.arange(len(parents)) - (np.cumsum(counts) - counts)[parents]
        in_order_parents, in_order_codes = np.empty_like(parents), np.empty_like(codes)
        in_order_parents[at], in_order_codes[at] = parents, codes
        return (in_order_parents, in_order_codes), labels, True

    def _by_group(self, codes: np.ndarray, labels: pd.Index, in_delay_order: bool):
        """Counts and delay quantiles per group, as ``groupby`` would give them.

        ``codes`` are per episode, or (exploded lists) already in delay order with their
        episodes' positions.
        """
        order, delay, flags = self._by_delay()
        if in_delay_order:
            rows, codes = codes
            delay, flags = self.delay[rows], self._flags[rows]
        else:
            codes = codes[order]
        groups = len(labels)
        codes = codes.astype(np.int16 if groups < 2**15 else np.int64)  # int16 sorts by radix
        tally = np.bincount(codes.astype(np.int64) * 8 + flags, minlength=8 * groups).reshape(groups, 8)
        n = tally.sum(axis=1)
        within = tally[:, 4:].sum(axis=1)
        escalated = tally[:, [2, 3, 6, 7]].sum(axis=1)
        counts = pd.DataFrame(
            {"n": n, "within_target": within, "escalated": escalated, "escalated_late": tally[:, [2, 3]].sum(axis=1)},
            index=labels,
        ).astype(np.int64)
        grouped = np.argsort(codes, kind="stable")  # each group's entries stay in delay order
        starts = np.concatenate([[0], np.cumsum(n)[:-1]])
        present = tally[:, 1::2].sum(axis=1)
        quantiles = pd.DataFrame(
            {q: _sorted_quantile(delay, grouped, starts, present, q) for q in (0.5, 0.9)}, index=labels
        )
        observed = n > 0
        return counts[observed], quantiles[observed]


def _sorted_quantile(values: np.ndarray, grouped: np.ndarray, starts: np.ndarray, sizes: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` of each group, from values in sorted order and a grouping permutation.

    ``values[grouped[starts[g]:starts[g] + sizes[g]]]`` are group g's non-missing values in
    order. Interpolated as pandas' grouped quantile (``group_quantile``): index
    ``q * (m - 1)`` truncated, fraction ``q * (m - 1) % 1``, and
    ``value + (next - value) * fraction`` unless the fraction is 0.
    """
    q_index = q * (sizes - 1).astype(np.float64)
    index = q_index.astype(np.int64)
    fraction = np.mod(q_index, 1)
    empty = sizes == 0
    low = np.where(empty, 0, starts + index)
    high = np.where(empty | (fraction == 0), low, low + 1)
    if len(grouped) == 0:
        return np.full(len(sizes), np.nan)
    value, following = values[grouped[low]], values[grouped[high]]
    result = np.where(fraction == 0, value, value + (following - value) * fraction)
    return np.where(empty, np.nan, result)


def _grouped_table(prepared: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """:func:`compliance_table` with pandas ``groupby`` (any key types, several keys)."""
    columns = [GROUPINGS.get(k, k) for k in keys]
    frame = prepared[list(dict.fromkeys(["within_target", "escalated", "delay_minutes", *columns]))]
    if "escalated_to" in columns:
        frame = frame.explode("escalated_to") if frame["escalated_to"].dtype == object else _explode_list(frame, "escalated_to")
    work = pd.DataFrame(
        {
            "within": frame["within_target"].astype(int),
            "escalated": frame["escalated"].astype(int),
            "late": (frame["escalated"] & ~frame["within_target"]).astype(int),
            "delay": frame["delay_minutes"],
        }
    )
    for key, column in zip(keys, columns, strict=True):
        values = frame[column]
        work[key] = as_text(values) if isinstance(values.dtype, pd.CategoricalDtype) else values
    if keys:
        grouped = work.groupby(keys, observed=True, sort=True, dropna=False)
        counts = grouped.agg(
            n=("within", "size"), within_target=("within", "sum"),
            escalated=("escalated", "sum"), escalated_late=("late", "sum"),
        )
        # groupby puts a missing key's quantiles first but its counts last: align by label
        quantiles = grouped["delay"].quantile([0.5, 0.9]).unstack().reindex(counts.index)
    else:
        counts = pd.DataFrame(
            {"n": [len(work)], "within_target": [work["within"].sum()],
             "escalated": [work["escalated"].sum()], "escalated_late": [work["late"].sum()]}
        )
        quantiles = pd.DataFrame({0.5: [work["delay"].quantile(0.5)], 0.9: [work["delay"].quantile(0.9)]})
    return _finish(counts, quantiles, keys)


def _finish(counts: pd.DataFrame, quantiles: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Derived columns (not escalated, rates, Wilson interval, quantiles) in table order.

    Made as one frame from arrays: a table has a few rows, so adding its columns one by one
    cost more than the arithmetic.
    """
    n, within, escalated, late = (
        counts[column].to_numpy(dtype=np.int64) for column in ("n", "within_target", "escalated", "escalated_late")
    )
    low, high = wilson_interval(within, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        within_pct = 100 * within / n

    def delay(q: float) -> np.ndarray:
        return quantiles[q].to_numpy() if len(quantiles) else np.full(len(n), np.nan)

    table = pd.DataFrame(
        {
            "n": n,
            "within_target": within,
            "not_within_target": n - within,
            "escalated_late": late,
            "not_escalated": n - escalated,
            "within_target_pct": within_pct,
            "ci95_low_pct": 100 * np.asarray(low),
            "ci95_high_pct": 100 * np.asarray(high),
            "escalated": escalated,
            "median_delay_minutes": delay(0.5),
            "p90_delay_minutes": delay(0.9),
        },
        index=counts.index,
    )
    return table.reset_index() if keys else table.reset_index(drop=True)


def _explode_list(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per list element (episodes with an empty or missing list are dropped)."""
    lengths = frame[column].list.len().fillna(0).astype(int).to_numpy()
    repeated = frame.loc[frame.index.repeat(lengths)].copy()
    repeated[column] = frame[column].list.flatten().to_numpy()
    return repeated


def group_entry(row: pd.Series) -> dict:
    """One table row as the JSON group entry of summary.json (``docs/definitions.md``)."""
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


def timeliness_summary(prepared: pd.DataFrame, *, tables: TimelinessTables | None = None) -> dict:
    """The ``timeliness`` object of summary.json: overall and the standard breakdowns.

    Pass ``tables`` to share its sorted delays with other tables of the same frame.
    """
    tables = tables if tables is not None else TimelinessTables(prepared)
    result: dict = {"overall": group_entry(tables.table().iloc[0])}
    for key in ("band", "team", "trigger", "ooh_sub_band", "lone_worker", "quarter"):
        table = tables.table(key)
        result[f"by_{key}"] = {str(row[key]): group_entry(row) for _, row in table.iterrows()}
    return result
