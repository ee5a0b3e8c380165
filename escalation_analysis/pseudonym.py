"""Privacy at the door: keyed pseudonyms for people, and NHS number checks.

Service-user and staff identifiers are replaced on load by a keyed hash (HMAC-SHA256), so the
same person gets the same pseudonym in every run with the same key, but nobody without the key
can turn a pseudonym back into an identifier by hashing guesses. The key lives outside the
repository: in the ``ESCALATION_ANALYSIS_KEY`` environment variable, or in a key file (path in
``ESCALATION_ANALYSIS_KEY_FILE``, default ``~/.config/escalation-analysis/pseudonym.key``)
created on first use. The key is never written into any output.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

KEY_ENV = "ESCALATION_ANALYSIS_KEY"
KEY_FILE_ENV = "ESCALATION_ANALYSIS_KEY_FILE"
PREFIXES = {"service_user_id": "SU-", "staff_id": "ST-"}
_DIGEST_CHARS = 10


def default_key_path() -> Path:
    """Where the key file lives unless ``ESCALATION_ANALYSIS_KEY_FILE`` says otherwise."""
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV]).expanduser()
    if os.name == "nt" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "escalation-analysis" / "pseudonym.key"


def load_key() -> bytes:
    """The pseudonymisation key: from the environment, else the key file (made on first use).

    Keep the key file safe and backed up: with a new key, every pseudonym changes, so
    reports from different runs can no longer be compared person by person.
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode("utf-8")
    path = default_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        logger.warning("Created a new pseudonymisation key at %s; keep it safe.", path)
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def pseudonymise(values: pd.Series, field: str, key: bytes) -> pd.Series:
    """Replace identifiers by ``SU-``/``ST-`` prefixed keyed hashes; blanks stay blank.

    Identifiers are normalised first (spaces and hyphens removed, upper case), so
    ``943 476 5919`` and ``9434765919`` are the same person. Only distinct values are hashed,
    which keeps this fast on millions of rows.
    """
    prefix = PREFIXES.get(field, "ID-")
    normalised = values.str.replace(r"[\s\-]", "", regex=True).str.upper()
    codes, uniques = pd.factorize(normalised, use_na_sentinel=True)
    salt = f"{field}:".encode()
    hashed = np.array(
        [
            prefix + hmac.new(key, salt + u.encode("utf-8"), hashlib.sha256).hexdigest()[:_DIGEST_CHARS]
            for u in uniques
        ],
        dtype=object,
    )
    out = np.where(codes >= 0, hashed[np.clip(codes, 0, None)] if len(hashed) else None, None)
    return pd.Series(out, index=values.index, dtype="str")


def nhs_number_is_valid(values: pd.Series) -> pd.Series:
    """Modulus 11 check of NHS numbers (blank values count as valid: nothing to check).

    An NHS number has ten digits; the tenth is a check digit computed from the first nine
    with weights 10 down to 2 (NHS Data Dictionary). Spaces and hyphens are ignored.
    """
    digits_text = values.str.replace(r"[\s\-]", "", regex=True)
    present = digits_text.notna() & (digits_text != "")
    well_formed = digits_text.str.fullmatch(r"\d{10}").fillna(False).astype(bool)
    valid = pd.Series(True, index=values.index)
    if well_formed.any():
        digits = (
            np.frombuffer("".join(digits_text[well_formed]).encode("ascii"), dtype=np.uint8)
            .reshape(-1, 10)
            .astype(np.int64)
            - ord("0")
        )
        remainder = (digits[:, :9] * np.arange(10, 1, -1)).sum(axis=1) % 11
        check = (11 - remainder) % 11
        ok = (check != 10) & (check == digits[:, 9])
        valid.loc[well_formed[well_formed].index] = ok
    valid[present & ~well_formed] = False
    return valid
