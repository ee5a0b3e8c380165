"""The files a review is made from, as one value.

An export is never read alone: it comes with its mapping profile and the pathway, and
optionally the step, learning-action and training logs. The CLI, the report runner and the
notebooks pass these six files around together as an :class:`InputFiles`, and a notebook takes
them as one parameter, ``inputs``: either a folder laid out as ``escalation-review sample``
writes it (the demo's sample data), or the files by name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from ..errors import EscalationAnalysisError

__all__ = ["FOLDER_NAMES", "KEPT_EXPORTS", "InputFiles"]

#: How many read exports a process keeps at once: the analysis cache keeps this many, and a
#: run's warm-kernel template reads at most this many ahead for its reports (here, where both
#: can import it without importing pandas).
KEPT_EXPORTS = 2

#: The file names of a folder laid out as ``escalation-review sample`` writes it.
FOLDER_NAMES: dict[str, str] = {
    "export": "incidents.csv", "mapping": "mapping.yaml", "pathway": "pathway.yaml",
    "steps": "steps.csv", "actions": "learning_actions.csv", "training": "training.csv",
}

_PathLike = str | os.PathLike


@dataclass(frozen=True)
class InputFiles:
    """The export, its mapping profile and the pathway, and the optional logs (None: not given)."""

    REQUIRED: ClassVar[tuple[str, ...]] = ("export", "mapping", "pathway")

    export: Path
    mapping: Path
    pathway: Path
    steps: Path | None = None
    actions: Path | None = None
    training: Path | None = None

    def __post_init__(self) -> None:
        # Paths as given (relative ones stay relative: a notebook's kernel resolves them in its
        # own working folder); "" for an optional log means not given, as notebook literals say.
        for item in fields(self):
            value = getattr(self, item.name)
            object.__setattr__(self, item.name, Path(value) if value not in (None, "") else None)
        missing = [name for name in self.REQUIRED if getattr(self, name) is None]
        if missing:
            raise EscalationAnalysisError(f"No {' or '.join(missing)} file was given; a review needs "
                                          "the export, its mapping profile and the pathway.")

    @classmethod
    def in_folder(cls, folder: _PathLike) -> InputFiles:
        """The files of a folder laid out as ``escalation-review sample`` writes it.

        A log the folder does not hold counts as not given.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise EscalationAnalysisError(f"'{folder}' is not a folder; give the folder holding "
                                          f"{FOLDER_NAMES['export']}, or the files by name.")
        named = {name: folder / file for name, file in FOLDER_NAMES.items()}
        return cls(**{name: path if name in cls.REQUIRED or path.is_file() else None
                      for name, path in named.items()})

    @classmethod
    def given(cls, inputs: InputFiles | _PathLike | Mapping[str, _PathLike | None]) -> InputFiles:
        """What a caller or a notebook's ``inputs`` parameter names: a folder, or the files by name."""
        if isinstance(inputs, InputFiles):
            return inputs
        if isinstance(inputs, Mapping):
            unknown = sorted(set(inputs) - set(FOLDER_NAMES))
            if unknown:
                raise EscalationAnalysisError(
                    f"{', '.join(map(repr, unknown))} is not an input; name the files as "
                    f"{', '.join(FOLDER_NAMES)}.")
            return cls(**{name: inputs.get(name) for name in FOLDER_NAMES})
        return cls.in_folder(inputs)

    def by_name(self) -> dict[str, Path | None]:
        """The six files by name (None for a log not given)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def given_files(self) -> list[Path]:
        """The files given, in the order of :data:`FOLDER_NAMES`."""
        return [path for path in self.by_name().values() if path is not None]
