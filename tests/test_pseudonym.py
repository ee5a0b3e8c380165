"""Privacy at the door: keyed pseudonyms, NHS number checks, and the key kept out of outputs."""

from __future__ import annotations

import contextlib
import io
import json
import stat

import pandas as pd
from conftest import PROFILE, SAMPLE, csv_bytes, row
from hypothesis import given
from hypothesis import strategies as st

from escalation_analysis import cli
from escalation_analysis.ingest.export import load_export
from escalation_analysis.ingest.mapping import MappingProfile
from escalation_analysis.ingest.pseudonyms import load_key, nhs_number_is_valid, pseudonymise


def ids(*values) -> pd.Series:
    return pd.Series(list(values), dtype="str")


class TestNhsNumber:
    def test_known_valid_and_invalid_numbers(self):
        valid = nhs_number_is_valid(ids("9434765919", "943 476 5919", "943-476-5919", "9434765918"))

        assert valid.tolist() == [True, True, True, False]

    def test_malformed_numbers_are_invalid_and_blanks_have_nothing_to_check(self):
        valid = nhs_number_is_valid(ids("943476591", "94347659190", "943476591X", "", None))

        assert valid.tolist() == [False, False, False, True, True]

    def test_a_check_digit_of_ten_is_never_valid(self):
        # Weights 10..2: 000000001 -> 2, check 9; 000000060 -> 18 (remainder 7), check 4;
        # 100000000 -> 10, check 1; 000000006 -> 12 (remainder 1), check 10: no valid number.
        assert nhs_number_is_valid(ids("0000000019", "0000000604", "1000000001")).all()
        assert not nhs_number_is_valid(ids(*[f"000000006{d}" for d in range(10)])).any()

    def test_invalid_numbers_are_warned_about_but_kept(self, export):
        loaded = export([row(ref="A", nhs="943 476 5918"), row(ref="B", nhs="9434765919")])

        assert loaded.accounting.rows_analysed == 2
        warnings = loaded.accounting.warnings
        assert warnings[["row", "reason", "incident_id"]].values.tolist() == [[2, "invalid_nhs_number", "A"]]

    @given(st.lists(st.integers(0, 9), min_size=9, max_size=9), st.integers(0, 9), st.integers(1, 9))
    def test_any_single_digit_error_is_caught(self, body, position, change):
        remainder = sum(d * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        check = (11 - remainder) % 11
        if check == 10:
            return
        digits = [*body, check]
        assert nhs_number_is_valid(ids("".join(map(str, digits)))).iloc[0]
        digits[position] = (digits[position] + change) % 10
        assert not nhs_number_is_valid(ids("".join(map(str, digits)))).iloc[0]


class TestPseudonyms:
    def test_same_person_with_or_without_spaces_gets_the_same_pseudonym(self):
        out = pseudonymise(ids("943 476 5919", "9434765919", "943-476-5919", "9434765927"),
                           "service_user_id", b"key")

        assert out.iloc[0] == out.iloc[1] == out.iloc[2]
        assert out.iloc[3] != out.iloc[0]
        assert out.iloc[0].startswith("SU-")

    def test_staff_pseudonyms_ignore_case_and_blanks_stay_blank(self):
        out = pseudonymise(ids("Sam Patel", "SAM PATEL", None), "staff_id", b"key")

        assert out.iloc[0] == out.iloc[1] and out.iloc[0].startswith("ST-")
        assert pd.isna(out.iloc[2])

    def test_different_keys_give_different_pseudonyms(self):
        values = ids("9434765919", "Sam Patel")

        assert (pseudonymise(values, "staff_id", b"key one") != pseudonymise(values, "staff_id", b"key two")).all()

    def test_the_same_key_gives_the_same_pseudonyms_in_every_run(self, export):
        first = export([row()], name="a.csv").episodes
        second = export([row()], name="b.csv").episodes

        assert first.loc[0, "service_user_id"] == second.loc[0, "service_user_id"]
        assert first.loc[0, "staff_id"] == second.loc[0, "staff_id"]

    def test_raw_identifiers_are_never_in_the_episodes(self, sample_csv):
        raw = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        episodes = sample_csv.episodes
        raw_ids = set(raw["NHS Number"]) | set(raw["NHS Number"].str.replace(" ", "")) | set(raw["Reported By"])
        raw_ids.discard("")

        for column in ("service_user_id", "staff_id"):
            assert episodes[column].str.fullmatch(r"(SU|ST)-[0-9a-f]{10}").all()
        for column in episodes.columns:
            if episodes[column].dtype == "str" or episodes[column].dtype == object:
                assert not set(episodes[column].dropna().astype(str)) & raw_ids, column

    @given(st.lists(st.text(alphabet="0123456789ABCDEFXYZ", min_size=1, max_size=12), max_size=30))
    def test_distinct_identifiers_get_distinct_pseudonyms(self, values):
        out = pseudonymise(ids(*values), "service_user_id", b"key") if values else ids()
        normalised = [v.upper() for v in values]

        assert len(set(out)) == len(set(normalised))
        mapping = dict(zip(normalised, out, strict=True))
        assert all(mapping[n] == o for n, o in zip(normalised, out, strict=True))


class TestKey:
    def test_key_file_is_created_private_on_first_use_and_reused(self, isolated_key):
        assert not isolated_key.exists()

        first = load_key()

        assert isolated_key.exists()
        assert stat.S_IMODE(isolated_key.stat().st_mode) == 0o600
        assert len(first) >= 32
        assert load_key() == first

    def test_environment_key_wins_over_the_file(self, isolated_key, monkeypatch):
        monkeypatch.setenv("ESCALATION_ANALYSIS_KEY", "from-the-environment-32-bytes-or-more")

        assert load_key() == b"from-the-environment-32-bytes-or-more"
        assert not isolated_key.exists()

    def test_key_never_appears_in_any_output(self, isolated_key, tmp_path):
        small = tmp_path / "small.csv"
        small.write_bytes(csv_bytes([row(ref="A"), row(ref="B", nhs="9434765918", team="")]))
        out = tmp_path / "dq.json"
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(["validate", str(SAMPLE / "incidents.csv"),
                             "--mapping", str(SAMPLE / "mapping.yaml"), "--json", str(out)])
        key = isolated_key.read_text().strip()
        loaded = load_export(small, MappingProfile.model_validate(PROFILE))

        assert code == 0, stderr.getvalue()
        assert len(key) >= 32
        for text in (stdout.getvalue(), stderr.getvalue(), out.read_text(), loaded.accounting.statement(),
                     json.dumps(loaded.accounting.to_dict()), loaded.episodes.to_csv()):
            assert key not in text
            assert key[:16] not in text
