"""A report notebook's parameters: only the names it declares, only plain literals.

papermill writes each value into the notebook as code, so a value must never become code: the
names are checked against the notebook's ``parameters`` cell, and the values must be text,
numbers, true/false, None, or lists of those or mappings from text to them (paths and dates are
turned into text). An error names the parameter, never its value.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from .report_errors import ReportError, ReportParameterError

__all__ = ["OUTPUT_DIR_PARAMETER", "check_parameters", "notebook_parameters", "papermill_path"]


#: Parameter filled in with the output folder when the notebook declares it.
OUTPUT_DIR_PARAMETER = "output_dir"


_ALLOWED_SCALARS = (str, int, float, bool, type(None))


def papermill_path(path: Path) -> str:
    """A path for papermill, which runs ``str.format(**parameters)`` on every path."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _plain_value(name: str, value: Any, *, in_list: bool = False) -> Any:
    """Return ``value`` as an exact str/int/float/bool/None (or a list of them, or a mapping
    from text to them), or raise."""
    kind = type(value)
    if kind in _ALLOWED_SCALARS:
        if kind is float and not math.isfinite(value):
            raise ReportParameterError(
                f"Parameter {name!r} is not a finite number; use a number, or None for no value."
            )
        return value
    # Harmless conveniences, converted to exact built-in types so that nothing but a plain
    # literal is ever written into the notebook.
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real):
        return _plain_value(name, float(value))
    if isinstance(value, (list, tuple)) and not in_list:
        return [_plain_value(name, item, in_list=True) for item in value]
    if isinstance(value, Mapping) and not in_list and all(type(k) is str for k in value):
        return {key: _plain_value(name, item, in_list=True) for key, item in value.items()}
    what = (
        "a list or mapping inside another" if in_list and isinstance(value, (list, tuple, Mapping))
        else "a mapping with keys that are not text" if isinstance(value, Mapping) else kind.__name__
    )
    raise ReportParameterError(
        f"Parameter {name!r} must be text, a number, true/false, None, or a list of those or a "
        f"mapping from text to them, not {what}."
    )


def notebook_parameters(notebook_path: str | os.PathLike) -> dict[str, dict]:
    """Return the parameters declared in a notebook's ``parameters`` cell.

    Parameters
    ----------
    notebook_path : str or path
        The notebook.

    Returns
    -------
    dict
        ``{name: {"name", "inferred_type_name", "default", "help"}}`` as papermill reports it;
        empty when the notebook has no cell tagged ``parameters``.
    """
    import papermill

    path = Path(notebook_path).resolve()
    if not path.is_file():
        raise ReportError(f"The report notebook {path} does not exist.")
    return papermill.inspect_notebook(papermill_path(path))


def check_parameters(
    notebook_path: str | os.PathLike, parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Check parameter names against the notebook and values against the allowed literals.

    Parameters
    ----------
    notebook_path : str or path
        The notebook whose ``parameters`` cell declares the accepted names.
    parameters : mapping
        Names to values. Values must be str, int, float, bool, None or a list of those.
        ``pathlib`` paths and dates are converted to text; numpy numbers to Python numbers.

    Returns
    -------
    dict
        The parameters, as exact built-in types.

    Raises
    ------
    ReportParameterError
        For an unknown name or a value of another type. The message names the parameter,
        never its value.
    """
    parameters = dict(parameters or {})
    if not parameters:
        return {}
    return check_declared_parameters(Path(notebook_path), parameters, notebook_parameters(notebook_path))


def check_declared_parameters(
    path: Path, parameters: dict[str, Any], declared: Mapping[str, Any]
) -> dict[str, Any]:
    for name in parameters:
        if not isinstance(name, str) or not name.isidentifier():
            raise ReportParameterError(f"{name!r} is not a valid parameter name.")
    if not declared:
        raise ReportParameterError(
            f"{path.name} has no cell tagged 'parameters', so it takes no parameters "
            f"(given: {', '.join(sorted(parameters))})."
        )
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ReportParameterError(
            f"{path.name} has no parameter named {', '.join(repr(n) for n in unknown)}; "
            f"it accepts: {', '.join(sorted(declared))}."
        )
    return {name: _plain_value(name, value) for name, value in parameters.items()}
