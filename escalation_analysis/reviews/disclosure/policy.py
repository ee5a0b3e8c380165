"""Disclosure policies as data: what external and partner readers may see of a count.

A policy is a handful of settings, not code, so it can be written down, compared and cited
(``docs/privacy.md``, "Disclosure control"). Two are defined:

* :data:`NHS_ROUNDED` (the default for external and partner outputs): NHS Digital's
  disclosure control for sub-national Hospital Episode Statistics and ECDS figures, in use
  since September 2018 and later for other collections. 0 stays 0; counts from 1 to 7 are
  shown as ``*``; every other count is rounded to the nearest 5; percentages are calculated
  from the rounded counts; a mean or median over 1 to 7 values is not shown. On top of that,
  every figure of a group whose own count is 1 to 7 is withheld (no zero or median beside a
  ``*``).
* :data:`EXACT_SECONDARY`: exact counts with secondary suppression (NHS Digital's method before
  2018, still common in local reporting). Groups with fewer than 8 episodes are first added
  together into one "Other teams (fewer than 8 each)" row; a count of 1 to 7 that is left is
  shown as ``*``, and further figures are withheld (``[c]``) until the audit finds no count of
  1 to 7 that can be narrowed to fewer than 4 values. The headline figures (episodes,
  within target and its rate) of a group with 20 or more episodes are withheld only when no
  other figure would do.

The marks follow the Government Analysis Function's guidance on symbols in tables (``[c]``
for a figure withheld for confidentiality), keeping NHS Digital's ``*`` for a small count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

SMALL_MARK = "*"
"""A count from 1 to 7 (with the default threshold): never anything else."""
PROTECTED_MARK = "[c]"
"""A figure withheld so that a small count cannot be seen or worked out (confidential)."""


@dataclass(frozen=True)
class Marks:
    """What readers see in place of a figure, and the key's sentence for each."""

    small: str = SMALL_MARK
    protected: str = PROTECTED_MARK

    def __post_init__(self) -> None:
        if not self.small or not self.protected or self.small == self.protected:
            raise ValueError("The two marks must be different, non-empty strings.")

    def all(self) -> tuple[str, str]:
        return (self.small, self.protected)


@dataclass(frozen=True)
class DisclosurePolicy:
    """The settings of one way of publishing counts about people.

    Parameters
    ----------
    name : str
        Short name used in settings, ``summary.json`` and ``audit.json``.
    title : str
        How the method is named for readers.
    threshold : int
        Counts from 1 to ``threshold`` are small numbers, shown as ``marks.small``.
    round_to : int or None
        Round every other count to the nearest multiple (halves up), and calculate rates from
        the rounded counts. None publishes exact counts.
    secondary_suppression : bool
        Withhold further figures until no small count can be worked out (exact counts only).
    merge_small_groups : bool
        Before anything else, add groups with ``threshold`` or fewer episodes together into
        one row per breakdown ("Other teams (fewer than 8 each)").
    headline_group_size : int
        Secondary suppression leaves alone the headline figures of a group at least this big
        while any other choice exists.
    min_possible_values : int
        The audit's test: a count of 1 to ``threshold`` that the published figures narrow to
        fewer possible values than this makes the report unsafe, and it is withheld.
    sources : tuple of str
        Where the method is written down.
    """

    name: str
    title: str
    threshold: int = 7
    round_to: int | None = 5
    secondary_suppression: bool = False
    merge_small_groups: bool = False
    headline_group_size: int = 20
    min_possible_values: int = 4
    marks: Marks = field(default_factory=Marks)
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for setting in ("threshold", "headline_group_size", "min_possible_values"):
            value = getattr(self, setting)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{setting} must be a whole number of at least 1, not {value!r}.")
        if self.round_to is not None and (isinstance(self.round_to, bool) or not isinstance(self.round_to, int)
                                          or self.round_to < 2):
            raise ValueError(f"round_to must be a whole number of at least 2 (usually 5) or None, not {self.round_to!r}.")
        if self.round_to is None and not self.secondary_suppression:
            raise ValueError("Exact counts need secondary suppression, or a small count could be worked out.")

    @property
    def smallest_shown(self) -> int:
        """The smallest count shown as a number (8 by default)."""
        return self.threshold + 1

    def is_small(self, count: int) -> bool:
        """Whether a count is a small number (1 to ``threshold``)."""
        return 1 <= count <= self.threshold

    def round(self, count: int) -> int:
        """A count as published when it is not small: rounded to ``round_to``, halves up."""
        return int(self.round_counts(np.asarray([count], dtype=np.int64))[0])

    def round_counts(self, counts: np.ndarray) -> np.ndarray:
        """:meth:`round` for an array of counts."""
        counts = np.asarray(counts, dtype=np.int64)
        if self.round_to is None:
            return counts
        return (2 * counts + self.round_to) // (2 * self.round_to) * self.round_to

    def possible_counts(self, published: int) -> tuple[int, int]:
        """The true counts that publish as ``published`` (a number, not a mark)."""
        if published == 0:
            return (0, 0)
        if self.round_to is None:
            return (published, published)
        step = self.round_to
        low = published - step // 2
        high = published + (step - 1) // 2
        return (max(low, self.smallest_shown), high)

    def merged_label(self, noun_plural: str) -> str:
        """The row that small groups are added into: 'Other teams (fewer than 8 each)'."""
        return f"Other {noun_plural} (fewer than {self.smallest_shown} each)"

    def key(self, marks_used: Iterable[str] = (), *, merged: bool = False, whole_columns: bool = False) -> list[str]:
        """The key a report prints: what each mark means and how counts were treated."""
        used = set(marks_used)
        lines = []
        if self.marks.small in used:
            lines.append(f"{self.marks.small}: a count from 1 to {self.threshold}, not shown.")
        if self.marks.protected in used:
            lines.append(
                f"{self.marks.protected}: withheld so that a count from 1 to {self.threshold} cannot be seen or "
                "worked out (a figure of a small group, a median of fewer than "
                f"{self.smallest_shown} values, or a figure that would reveal a small count by subtraction)."
            )
        if whole_columns:
            lines.append(
                f"Where a column of a table is {self.marks.protected} in every row, it was withheld as a whole, "
                f"because its counts of 1 to {self.threshold} would add up to reveal a total: there "
                f"{self.marks.protected} may stand for any count, 0 included."
            )
        if merged:
            lines.append(f"Groups with fewer than {self.smallest_shown} episodes are added together into one "
                         f"'Other ... (fewer than {self.smallest_shown} each)' row.")
        if self.round_to is not None:
            lines.append(
                f"Counts are rounded to the nearest {self.round_to} and percentages are calculated from the "
                "rounded counts, so parts may not add up to totals."
            )
        else:
            lines.append("Counts are exact; percentages are calculated from them.")
        return lines


_NHS_SOURCES = (
    "NHS Digital, 'Disclosure control methodology for Hospital Episode Statistics (HES) and Emergency Care "
    "Data Set (ECDS)', September 2018",
    "ISB 1523, Anonymisation Standard for Publishing Health and Social Care Data",
)

NHS_ROUNDED = DisclosurePolicy(
    name="nhs-rounded",
    title="NHS Digital's sub-national method: 1 to 7 shown as *, other counts rounded to the nearest 5",
    sources=(*_NHS_SOURCES,
             "Government Analysis Function, 'Symbols, footnotes and codes in tables' ([c] for confidential)"),
)
EXACT_SECONDARY = DisclosurePolicy(
    name="exact-secondary",
    title="the exact-count method with secondary suppression: 1 to 7 shown as *, small groups merged, "
          "further figures withheld as [c]",
    round_to=None,
    secondary_suppression=True,
    merge_small_groups=True,
    sources=(
        "NHS Digital, HES analysis guide (suppression of 1 to 5 with secondary suppression, used until 2018); "
        "threshold raised to 7 as in the 2018 method",
        "ISB 1523, Anonymisation Standard for Publishing Health and Social Care Data",
        "Government Analysis Function, 'Symbols, footnotes and codes in tables' ([c] for confidential)",
    ),
)

POLICIES: dict[str, DisclosurePolicy] = {p.name: p for p in (NHS_ROUNDED, EXACT_SECONDARY)}
"""Every policy a report can be made with, by name."""

AUDIENCE_DEFAULTS: dict[str, str] = {"external": NHS_ROUNDED.name, "partners": NHS_ROUNDED.name}
"""The policy each audience gets unless a setting chooses another; internal readers get none."""


def policy_for(audience: str, name: str | None = None) -> DisclosurePolicy | None:
    """The policy for ``audience``: None for internal readers, else ``name`` or the audience's default.

    Raises
    ------
    ValueError
        For an unknown audience or policy name (one sentence listing the choices), or a policy
        asked for internal readers.
    """
    if audience == "internal":
        if name:
            raise ValueError("Internal reports show exact figures; a disclosure policy applies to external "
                             "and partner reports only.")
        return None
    if audience not in AUDIENCE_DEFAULTS:
        raise ValueError(f"'{audience}' is not an audience; choose internal, external or partners.")
    chosen = name or AUDIENCE_DEFAULTS[audience]
    if chosen not in POLICIES:
        raise ValueError(f"'{chosen}' is not a disclosure policy; choose one of {', '.join(POLICIES)}.")
    return POLICIES[chosen]
