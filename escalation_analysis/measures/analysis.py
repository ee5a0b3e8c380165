"""One call that loads everything a review needs: :func:`analyse`.

Reports, the ``summary`` command and people exploring in JupyterLab all start here: the
export through its mapping profile, the pathway, the reporting period, and the optional step,
learning-actions and training logs. The result holds prepared episodes (band, target, delay,
within target) and the row accounting, ready for the tables and charts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ..errors import EscalationAnalysisError, NothingUsableError
from ..ingest import fitness
from ..ingest.accounting import RowAccounting
from ..ingest.export import LoadedExport, load_export
from ..ingest.identifiers import IdentifierValues
from ..ingest.logs import LoadedLog, load_actions, load_step_log, load_training
from ..ingest.mapping import MappingProfile, read_mapping
from ..ingest.pathway import Pathway, read_pathway
from .prepared import validate_prepared
from .timeliness import exclude_outside, first_and_last_dates, in_period, prepare_episodes

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass
class Analysis:
    """Everything loaded for one review period.

    Attributes
    ----------
    episodes
        Prepared episodes in the period (see :func:`~escalation_analysis.measures.timeliness.prepare_episodes`).
    all_episodes
        Prepared episodes of the whole export (for trends and "previous quarter" comparisons).
    accounting
        Row accounting for the period: rows outside it are excluded as ``outside_period``.
    sources
        ``export``: the export's file name; ``export_sha256``: the SHA-256 of its bytes, which
        every report prints so that a reader can tell exactly which file it was made from.
    """

    episodes: pd.DataFrame
    all_episodes: pd.DataFrame
    accounting: RowAccounting
    pathway: Pathway
    profile: MappingProfile
    start: dt.date
    end: dt.date
    steps: LoadedLog | None = None
    actions: LoadedLog | None = None
    training: LoadedLog | None = None
    sources: dict[str, str] = field(default_factory=dict)
    identifiers: IdentifierValues = field(default_factory=IdentifierValues, repr=False)
    """The export's identifiers, pseudonyms and free text, for the privacy gate (see ingest.identifiers)."""
    _kept: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def kept(self, name: str, make: Callable[[], _T]) -> _T:
        """``make()``, made once for this analysis: a figure of the analysis alone that a review
        reads in several places (its front sheet and its sections). Like the analysis, what it
        hands out is shared: read it, do not change it in place."""
        if name not in self._kept:
            self._kept[name] = make()
        return self._kept[name]

    def episodes_between(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Prepared episodes of the whole export whose risk was identified from ``start`` to ``end``."""
        inside = in_period(self.all_episodes, start, end, self.pathway.timezone)
        return self.all_episodes[inside].reset_index(drop=True)

    @property
    def history(self) -> pd.DataFrame:
        """Prepared episodes from the start of the export to the end of the period (for trends).

        Made once (a review reads it for its front sheet, its Making Data Count table and its
        charts); shared, so do not change it in place."""
        return self.kept("history", lambda: self.episodes_between(dt.date.min, self.end))

    @property
    def steps_frame(self) -> pd.DataFrame | None:
        """The step log's rows, or None when no step log was given."""
        return self.steps.frame if self.steps is not None else None

    @property
    def actions_frame(self) -> pd.DataFrame | None:
        """The learning actions, or None when no log was given."""
        return self.actions.frame if self.actions is not None else None

    @property
    def training_frame(self) -> pd.DataFrame | None:
        """The training log, or None when no log was given."""
        return self.training.frame if self.training is not None else None

    @property
    def as_of(self) -> dt.date:
        """The date the review looks from: the end of the period."""
        return self.end


def _as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise EscalationAnalysisError(f"'{value}' is not a date like 2025-04-01.") from None


@dataclass(frozen=True)
class LoadedInputs:
    """What :func:`analyse` reads before it looks at the period: the export through its
    profile, every episode prepared against the pathway, and the export's name and SHA-256.

    The same for every period of one export, so a run that reviews several periods reads the
    export once (:mod:`~escalation_analysis.measures.analysis_cache`).
    """

    export: Path
    profile: MappingProfile
    pathway: Pathway
    loaded: LoadedExport
    all_prepared: pd.DataFrame
    sources: dict[str, str]


def load_inputs(
    export: str | Path,
    mapping: str | Path | MappingProfile,
    pathway: str | Path | Pathway,
    *,
    key: bytes | None = None,
) -> LoadedInputs:
    """Read the export, its mapping profile and the pathway, and prepare every episode."""
    profile = mapping if isinstance(mapping, MappingProfile) else read_mapping(mapping)
    path_way = pathway if isinstance(pathway, Pathway) else read_pathway(pathway)
    loaded = load_export(export, profile, key=key)
    all_prepared = validate_prepared(prepare_episodes(loaded.episodes, path_way), path_way.timezone)
    return LoadedInputs(Path(export), profile, path_way, loaded, all_prepared,
                        {"export": Path(export).name, "export_sha256": loaded.sha256})


def analyse(
    export: str | Path,
    mapping: str | Path | MappingProfile,
    pathway: str | Path | Pathway,
    start: dt.date | str,
    end: dt.date | str,
    *,
    steps: str | Path | None = None,
    actions: str | Path | None = None,
    training: str | Path | None = None,
    key: bytes | None = None,
    require_episodes: bool = True,
) -> Analysis:
    """Load an export and its companions for the period ``start`` to ``end`` inclusive.

    Raises
    ------
    EscalationAnalysisError
        For unreadable files or settings (one sentence saying what to fix), or
        :class:`NothingUsableError` when no episode falls in the period and
        ``require_episodes`` is true (reports' notebooks pass false: their runner has
        already checked).
    """
    start, end = check_period(start, end)
    return analyse_period(load_inputs(export, mapping, pathway, key=key), start, end,
                          {"steps": steps, "actions": actions, "training": training},
                          key=key, require_episodes=require_episodes)


def _nothing_in_period(episodes: pd.DataFrame, start: dt.date, end: dt.date, timezone: str, export: str) -> str:
    """Why there is nothing to report, saying where the export's episodes are: a period outside
    them is most often a mistyped year, and one inside them a quiet quarter."""
    if episodes.empty:
        return f"No usable episodes in '{export}'; run 'escalation-review validate' to see why."
    first, last = first_and_last_dates(episodes, timezone)
    return (f"No usable episodes fall between {start:%d/%m/%Y} and {end:%d/%m/%Y} in '{export}', whose episodes run "
            f"from {first:%d/%m/%Y} to {last:%d/%m/%Y}; check the dates or run 'escalation-review validate'.")


def check_period(start: dt.date | str, end: dt.date | str) -> tuple[dt.date, dt.date]:
    """The period as dates; one sentence when a date is not a date or the period ends first."""
    start, end = _as_date(start), _as_date(end)
    if end < start:
        raise EscalationAnalysisError(f"The period ends ({end}) before it starts ({start}); swap the dates.")
    return start, end


def analyse_period(inputs: LoadedInputs, start: dt.date, end: dt.date,
                   logs: Mapping[str, str | Path | None], *, key: bytes | None = None,
                   require_episodes: bool = True) -> Analysis:
    """:func:`analyse` of inputs already loaded: the period's episodes and accounting, and the
    logs named in ``logs`` (``steps``, ``actions``, ``training``; None or absent: not given)."""
    steps, actions, training = (logs.get(name) for name in ("steps", "actions", "training"))
    loaded, path_way, profile, all_prepared = inputs.loaded, inputs.pathway, inputs.profile, inputs.all_prepared
    inside = in_period(loaded.episodes, start, end, path_way.timezone)
    accounting = exclude_outside(loaded.episodes, loaded.accounting, inside, start, end)
    if require_episodes and accounting.rows_analysed == 0:
        raise NothingUsableError(_nothing_in_period(loaded.episodes, start, end, path_way.timezone, inputs.export.name))
    # (a shallow copy when the whole export is in the period: copy-on-write keeps them apart)
    prepared = all_prepared.copy(deep=False) if inside.all() else all_prepared[inside].reset_index(drop=True)
    accounting.fitness = (  # the export's checks hold when the period takes every episode
        fitness.rescoped(loaded.accounting.fitness, len(prepared), "in the period") if inside.all()
        else fitness.assess(prepared, accounting.warnings, profile, scope="in the period"))
    return Analysis(
        episodes=prepared,
        all_episodes=all_prepared,
        accounting=accounting,
        pathway=path_way,
        profile=profile,
        start=start,
        end=end,
        steps=load_step_log(steps, profile) if steps else None,
        actions=load_actions(actions, profile) if actions else None,
        training=load_training(training, profile, key=key) if training else None,
        sources=dict(inputs.sources),
        identifiers=loaded.identifiers,
    )
