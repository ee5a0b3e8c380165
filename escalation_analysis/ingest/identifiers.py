"""The export's values that must never reach a report, collected once, as the export is read.

The privacy gate (:mod:`escalation_analysis.publish.gate`) looks for these in every output.
The loader hands them over with the episodes (:class:`~escalation_analysis.ingest.export.LoadedExport`),
so the export is never read a second time to find them and no other module needs to know the
export's column names. Excluded rows count too: their identifiers are just as private.

The values are kept as the loader's own distinct columns (no copy); the sets the gate needs
are built the first time it asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from .pseudonyms import normalised_identifiers

#: Kinds of value, in the order a leak is reported.
SERVICE_USER = "service user identifier"
STAFF = "staff identifier"
INCIDENT = "incident reference"
PSEUDONYM = "pseudonym"
DESCRIPTION = "description"

#: Shorter values are too likely to be ordinary words or numbers to look for.
MIN_LENGTH = {SERVICE_USER: 6, STAFF: 4, INCIDENT: 4, PSEUDONYM: 4}
#: A description is looked for by its opening words, once it is long enough to be distinctive.
MIN_DESCRIPTION = 16
DESCRIPTION_OPENING = 40


@dataclass(eq=False)
class IdentifierValues:
    """Identifiers, pseudonyms and free text of one export, by kind.

    Attributes
    ----------
    service_user_ids, staff_ids, incident_ids : pandas.Series
        Text as written in the export (each value once, blanks dropped when asked).
    pseudonyms : pandas.Series
        The keyed pseudonyms of every person in the export.
    descriptions : pandas.Series
        The free-text column as read.
    """

    service_user_ids: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    staff_ids: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    incident_ids: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    pseudonyms: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    descriptions: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    _built: dict[str, pa.ChunkedArray] = field(default_factory=dict, init=False, repr=False)

    def of(self, kind: str) -> pa.ChunkedArray:
        """One kind's distinct values worth looking for, as Arrow text, built the first time it is asked for.

        An internal audience's gate needs only people's identifiers: the million descriptions
        and references of a large export are then never gathered. The values stay in Arrow
        (never a Python set of a million strings): the gate picks out only the few that could
        occur in the text it checks.
        """
        if kind not in self._built:
            self._built[kind] = self._values(kind)
        return self._built[kind]

    def _values(self, kind: str) -> pa.ChunkedArray:
        if kind == SERVICE_USER:
            people = _distinct_text(self.service_user_ids)
            digits = normalised_identifiers(people, upper=False)  # spaces and hyphens out, in Arrow
            return _long(pd.concat([people, digits]), MIN_LENGTH[SERVICE_USER])
        if kind == DESCRIPTION:
            descriptions = _distinct_text(self.descriptions)
            descriptions = descriptions[descriptions.str.len() >= MIN_DESCRIPTION].str.slice(0, DESCRIPTION_OPENING)
            return _long(descriptions.str.strip(), 1)
        values = {STAFF: self.staff_ids, INCIDENT: self.incident_ids, PSEUDONYM: self.pseudonyms}[kind]
        return _long(_distinct_text(values), MIN_LENGTH[kind])


def _distinct_text(values: pd.Series) -> pd.Series:
    values = values.dropna()
    return pd.Series(pd.unique(values.astype("str")), dtype="str").str.strip()


def _long(values: pd.Series, minimum: int) -> pa.ChunkedArray:
    """The distinct values of at least ``minimum`` characters (never the empty text), as Arrow text."""
    long = values[values.str.len() >= max(minimum, 1)].unique()
    arrow = long.__arrow_array__()
    return arrow if arrow.type == pa.large_string() else arrow.cast(pa.large_string())
