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
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .files import arrow_text, text_series
from .pseudonym_key import (  # (the key, re-exported here where it has always been)
    KEY_ENV,
    KEY_FILE_ENV,
    MAKE_A_KEY,
    MAX_KEY_FILE_BYTES,
    MIN_KEY_BYTES,
    PseudonymKeyError,
    default_key_path,
    load_key,
)

__all__ = [
    "KEY_ENV", "KEY_FILE_ENV", "MAKE_A_KEY", "MAX_KEY_FILE_BYTES", "MIN_KEY_BYTES", "PREFIXES", "PseudonymKeyError",
    "default_key_path", "load_key", "nhs_number_is_valid", "nhs_numbers_valid_distinct", "normalised_identifiers",
    "pseudonymise", "pseudonyms_of_distinct",
]


PREFIXES = {"service_user_id": "SU-", "staff_id": "ST-"}
_DIGEST_CHARS = 10


def pseudonymise(values: pd.Series, field: str, key: bytes) -> pd.Series:
    """Replace identifiers by ``SU-``/``ST-`` prefixed keyed hashes; blanks stay blank.

    Identifiers are normalised first (spaces and hyphens removed, upper case), so
    ``943 476 5919`` and ``9434765919`` are the same person. Only distinct values are hashed,
    which keeps this fast on millions of rows.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    hashed = pseudonyms_of_distinct(_distinct(uniques, values.dtype), field, key)
    return text_series(hashed.take(_nullable_codes(codes)), values.index)


def pseudonyms_of_distinct(distinct: pd.Series, field: str, key: bytes) -> pa.Array:
    """The pseudonym of each distinct identifier (Arrow text; null where there is nothing to hash).

    Several spellings of one identifier normalise to the same text, which is hashed once.
    """
    prefix = PREFIXES.get(field, "ID-")
    normalised = normalised_identifiers(distinct, upper=True)
    codes, uniques = pd.factorize(normalised.array, use_na_sentinel=True)
    if isinstance(uniques, pd.arrays.ArrowStringArray):  # UTF-8 bytes straight from Arrow
        messages = pa.array(uniques).cast(pa.large_binary()).to_pylist()
    else:
        messages = [str(u).encode("utf-8") for u in uniques]
    hashed = pa.array(_keyed_digests(key, f"{field}:".encode(), messages, prefix), type=pa.large_string())
    return hashed.take(_nullable_codes(codes))


def _keyed_digests(key: bytes, salt: bytes, messages: list[bytes], prefix: str) -> list[str]:
    """``prefix + hmac.new(key, salt + message, sha256).hexdigest()[:10]`` for each message.

    HMAC (RFC 2104) hashes the padded key before the message, twice. Those two key blocks
    are the same for every value, so they are hashed once and their states copied: the
    results are identical to ``hmac.new`` and about twice as fast on millions of values.
    """
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(key.translate(_XOR_36))
    inner.update(salt)
    outer = hashlib.sha256(key.translate(_XOR_5C))
    out = []
    append, inner_copy, outer_copy = out.append, inner.copy, outer.copy
    for message in messages:
        step = inner_copy()
        step.update(message)
        final = outer_copy()
        final.update(step.digest())
        append(prefix + final.hexdigest()[:_DIGEST_CHARS])
    return out


_XOR_36 = bytes(x ^ 0x36 for x in range(256))
_XOR_5C = bytes(x ^ 0x5C for x in range(256))

_SEPARATORS = "".join(chr(c) for c in range(128) if re.match(r"[\s\-]", chr(c)))
_ASCII_SEPARATORS = "[" + "".join(f"\\x{ord(c):02x}" for c in _SEPARATORS) + "]"
"""``[\\s\\-]`` as Python's ``re`` reads it on ASCII text, spelt out for Arrow's RE2 (whose
``\\s`` leaves out the vertical tab and the ASCII information separators)."""


def normalised_identifiers(distinct: pd.Series, *, upper: bool) -> pd.Series:
    """Identifiers without spaces and hyphens (upper-cased if asked), as pandas' ``str`` does.

    ASCII values, nearly all of them, are done in Arrow with the same character class;
    anything else goes through Python's ``re`` and ``str.upper`` so that Unicode spaces and
    case rules (``ß`` -> ``SS``) behave exactly as they always have.
    """
    if len(distinct) == 0 or distinct.dtype != "str":
        normalised = distinct.str.replace(r"[\s\-]", "", regex=True)
        return normalised.str.upper() if upper else normalised
    text = arrow_text(distinct)
    ascii_only = pc.fill_null(pc.string_is_ascii(text), True).to_numpy(zero_copy_only=False)
    if not ascii_only.all():
        fast = normalised_identifiers(distinct[ascii_only], upper=upper)
        slow = distinct[~ascii_only].str.replace(r"[\s\-]", "", regex=True)
        slow = slow.str.upper() if upper else slow
        return pd.concat([fast, slow]).reindex(distinct.index)
    out = pc.replace_substring_regex(text, _ASCII_SEPARATORS, "")
    return text_series(pc.utf8_upper(out) if upper else out, distinct.index)


def _distinct(uniques, dtype) -> pd.Series:
    return pd.Series(uniques, dtype=dtype)


def _nullable_codes(codes: np.ndarray) -> pa.Array:
    """Factorize codes as Arrow indices, missing where the code is -1 (so ``take`` gives null)."""
    return pa.array(codes, mask=codes < 0, type=pa.int64())


def nhs_number_is_valid(values: pd.Series) -> pd.Series:
    """Modulus 11 check of NHS numbers (blank values count as valid: nothing to check).

    An NHS number has ten digits; the tenth is a check digit computed from the first nine
    with weights 10 down to 2 (NHS Data Dictionary). Spaces and hyphens are ignored. Each
    distinct value is checked once.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    valid = nhs_numbers_valid_distinct(_distinct(uniques, values.dtype))
    out = np.where(codes >= 0, valid[np.clip(codes, 0, None)] if len(valid) else True, True)
    return pd.Series(out, index=values.index, dtype=bool)


def nhs_numbers_valid_distinct(distinct: pd.Series) -> np.ndarray:
    """:func:`nhs_number_is_valid` for distinct, non-missing values, as a boolean array."""
    if len(distinct) and distinct.dtype == "str":
        ascii_only = pc.fill_null(pc.string_is_ascii(arrow_text(distinct)), True).to_numpy(zero_copy_only=False)
        if not ascii_only.all():  # Unicode digits and spaces: Python's reading, as always
            out = np.empty(len(distinct), dtype=bool)
            out[ascii_only] = nhs_numbers_valid_distinct(distinct[ascii_only].reset_index(drop=True))
            out[~ascii_only] = _check_digits(distinct[~ascii_only].reset_index(drop=True)).to_numpy()
            return out
        text = arrow_text(normalised_identifiers(distinct, upper=False)).combine_chunks()
        well_formed = pc.fill_null(pc.match_substring_regex(text, "^[0-9]{10}$"), False)
        present = pc.fill_null(pc.greater(pc.binary_length(text), 0), False).to_numpy(zero_copy_only=False)
        valid = ~present  # blank: nothing to check; malformed: invalid
        numbers = text.filter(well_formed)
        if len(numbers):  # ten ASCII digits each, so the text buffer is a (k, 10) table of bytes
            start = np.frombuffer(numbers.buffers()[1], dtype=np.int64)[numbers.offset]
            digits = np.frombuffer(numbers.buffers()[2], dtype=np.uint8, count=10 * len(numbers), offset=start)
            valid[well_formed.to_numpy(zero_copy_only=False)] = _modulus_11(digits.reshape(-1, 10))
        return valid
    return _check_digits(distinct).to_numpy()


def _modulus_11(digits: np.ndarray) -> np.ndarray:
    """Check-digit test of rows of ten ASCII digit bytes."""
    digits = digits.astype(np.int64) - ord("0")
    remainder = (digits[:, :9] * np.arange(10, 1, -1)).sum(axis=1) % 11
    check = (11 - remainder) % 11
    return (check != 10) & (check == digits[:, 9])


def _check_digits(values: pd.Series) -> pd.Series:
    """The modulus 11 check with Python's reading of spaces and digits (any text)."""
    digits_text = values.str.replace(r"[\s\-]", "", regex=True)
    present = digits_text.notna() & (digits_text != "")
    well_formed = digits_text.str.fullmatch(r"\d{10}").fillna(False).astype(bool)
    valid = pd.Series(True, index=values.index)
    if well_formed.any():
        digits = np.frombuffer("".join(digits_text[well_formed]).encode("ascii"), dtype=np.uint8)
        valid.loc[well_formed[well_formed].index] = _modulus_11(digits.reshape(-1, 10))
    valid[present & ~well_formed] = False
    return valid
