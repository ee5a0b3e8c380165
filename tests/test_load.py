"""Loading through a mapping profile: canonical episodes and an account of every row."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from conftest import SAMPLE, TEST_KEY, balanced, csv_bytes, row

from escalation_analysis.errors import MappingError, NothingUsableError
from escalation_analysis.ingest.accounting import EXCLUSION_REASONS, WARNING_REASONS
from escalation_analysis.ingest.contract import EPISODE_COLUMNS, episode_schema
from escalation_analysis.ingest.export import load_export


def accounting_summary(loaded) -> dict:
    a = loaded.accounting
    return {
        "rows_read": a.rows_read,
        "rows_analysed": a.rows_analysed,
        "rows_excluded": a.rows_excluded,
        "excluded_by_reason": a.excluded_by_reason(),
        "warnings": a.warnings_by_reason(),
    }


def expected(truth: dict) -> dict:
    return {k: truth[k] for k in ("rows_read", "rows_analysed", "rows_excluded",
                                  "excluded_by_reason", "warnings")}


class TestSample:
    def test_csv_sample_accounting_matches_the_planted_truth(self, sample_csv, truth):
        assert accounting_summary(sample_csv) == expected(truth)
        assert sample_csv.accounting.unknown_values == {
            "trigger": ["Self-neglect"], "escalated_to": ["Street Triage"]
        }

    def test_xlsx_sample_accounting_matches_the_planted_truth(self, sample_xlsx, truth):
        assert accounting_summary(sample_xlsx) == expected(truth)

    def test_csv_and_xlsx_give_the_same_episodes(self, sample_csv, sample_xlsx):
        pd.testing.assert_frame_equal(sample_csv.episodes, sample_xlsx.episodes)

    def test_the_export_is_named_by_the_sha256_of_its_bytes(self, sample_csv, sample_xlsx):
        for loaded, name in ((sample_csv, "incidents.csv"), (sample_xlsx, "incidents.xlsx")):
            assert loaded.sha256 == hashlib.sha256((SAMPLE / name).read_bytes()).hexdigest()

    def test_episodes_satisfy_the_contract(self, sample_csv):
        episodes = sample_csv.episodes

        assert tuple(episodes.columns) == EPISODE_COLUMNS
        episode_schema().validate(episodes)
        assert balanced(sample_csv)

    def test_the_contract_is_checked_without_pandera_exactly_as_pandera_checks_it(self, sample_csv):
        """validate_episodes checks the rules in numpy and asks pandera only when one fails: the
        numpy checks pass what pandera passes, and each broken rule goes to pandera, which raises."""
        from pandera.errors import SchemaErrors

        from escalation_analysis.ingest.contract import episodes_hold, validate_episodes

        episodes = sample_csv.episodes
        assert episodes_hold(episodes)
        episode_schema().validate(episodes, lazy=True)
        assert validate_episodes(episodes) is episodes
        shuffled = episodes.iloc[::-1].reset_index(drop=True)  # row numbers unique, not ascending
        assert episodes_hold(shuffled)
        episode_schema().validate(shuffled, lazy=True)
        def first_set(column, value):
            frame = episodes.copy()
            frame.loc[frame.index[0], column] = value
            return frame

        late = episodes["risk_identified_at"].iloc[0] - pd.Timedelta(minutes=1)
        cases = {
            "missing reference": first_set("incident_id", None),
            "missing time": first_set("risk_identified_at", pd.NaT),
            "missing trigger": first_set("trigger", None),
            "missing team": first_set("team", None),
            "row number 1": first_set("row", 1),
            "repeated row number": first_set("row", int(episodes["row"].iloc[1])),
            "negative count": first_set("approvals_before_action", -1),
            "escalated before identified": first_set("escalated_at", late),
            "another dtype": episodes.astype({"approvals_before_action": "float64"}),
            "another time zone": episodes.assign(escalated_at=episodes["escalated_at"].dt.tz_convert("UTC")),
            "a column missing": episodes.drop(columns="gender"),
            "a column more": episodes.assign(extra=1),
            "columns reordered": episodes[[*episodes.columns[::-1]]],
        }
        for name, frame in cases.items():
            assert not episodes_hold(frame), name
            with pytest.raises(SchemaErrors):
                validate_episodes(frame)
        # a dtype the loader does not make goes to pandera, which judges it (these two pass)
        for other in (episodes.astype({"team": object}), episodes.assign(
                harm=episodes["harm"].cat.reorder_categories(list(reversed(episodes["harm"].cat.categories))))):
            assert not episodes_hold(other)
            pd.testing.assert_frame_equal(validate_episodes(other), other)

    def test_every_exclusion_has_a_reason_a_row_and_a_reference_where_there_is_one(self, sample_csv):
        excluded = sample_csv.accounting.excluded

        assert set(excluded["reason"]) <= set(EXCLUSION_REASONS)
        assert excluded["row"].is_unique and (excluded["row"] >= 2).all()
        with_reference = excluded[excluded["reason"] != "missing_incident_id"]
        assert with_reference["incident_id"].notna().all()
        assert set(sample_csv.accounting.warnings["reason"]) <= set(WARNING_REASONS)
        assert not set(excluded["row"]) & set(sample_csv.episodes["row"])

    def test_row_numbers_point_at_the_spreadsheet_rows(self, sample_csv):
        raw = pd.read_csv(SAMPLE / "incidents.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        episodes = sample_csv.episodes.set_index("row")
        for number in (2, 100, 2500, 5001):
            if number in episodes.index:
                assert episodes.loc[number, "incident_id"] == raw.loc[number - 2, "Ref"]


class TestExclusions:
    def test_exact_duplicates_are_excluded_and_one_copy_kept(self, export):
        loaded = export([row(ref="A"), row(ref="B"), row(ref="A"), row(ref="A")])

        assert loaded.episodes["incident_id"].tolist() == ["A", "B"]
        excluded = loaded.accounting.excluded
        assert excluded[["row", "reason", "detail"]].values.tolist() == [
            [4, "duplicate_row", "same as row 2"],
            [5, "duplicate_row", "same as row 2"],
        ]
        assert balanced(loaded)

    def test_same_reference_with_different_content_is_kept_and_warned(self, export):
        loaded = export([row(ref="A"), row(ref="A", team="South")])

        assert loaded.accounting.rows_analysed == 2
        assert loaded.accounting.warnings_by_reason() == {"repeated_incident_id": 2}

    def test_escalation_before_identification_is_excluded(self, export):
        loaded = export([row(ref="A", escalated="03/04/2025 09:59"), row(ref="B")])

        assert loaded.episodes["incident_id"].tolist() == ["B"]
        excluded = loaded.accounting.excluded.iloc[0]
        assert (excluded["row"], excluded["incident_id"], excluded["reason"]) == (
            2, "A", "escalated_before_identified"
        )
        assert "09:59" in excluded["detail"]

    @pytest.mark.parametrize(
        ("overrides", "reason"),
        [
            ({"ref": ""}, "missing_incident_id"),
            ({"date": "", "time": ""}, "missing_risk_identified_at"),
            ({"date": "31/02/2025"}, "unparseable_risk_identified_at"),
            ({"time": "25:99"}, "unparseable_risk_identified_at"),
            ({"category": ""}, "missing_trigger"),
            ({"escalated": "see notes"}, "unparseable_escalated_at"),
        ],
    )
    def test_required_field_missing_or_unreadable_is_excluded(self, export, overrides, reason):
        loaded = export([row(ref="OK"), row(**{"ref": "BAD", **overrides})])

        assert loaded.accounting.excluded_by_reason() == {reason: 1}
        assert loaded.accounting.excluded["row"].tolist() == [3]
        assert loaded.episodes["incident_id"].tolist() == ["OK"]

    def test_each_excluded_row_has_one_reason_the_first_that_applies(self, export):
        loaded = export([row(ref="", date="TBC", category=""), row()])

        assert loaded.accounting.excluded["reason"].tolist() == ["missing_incident_id"]

    def test_no_escalation_recorded_is_kept(self, export):
        loaded = export([row(escalated="")])

        assert loaded.accounting.rows_excluded == 0
        assert pd.isna(loaded.episodes.loc[0, "escalated_at"])

    def test_nothing_usable_raises_when_rows_are_required(self, tmp_path, profile):
        path = tmp_path / "x.csv"
        path.write_bytes(csv_bytes([row(ref=""), row(ref="", team="B")]))

        assert load_export(path, profile, key=TEST_KEY).accounting.rows_analysed == 0
        with pytest.raises(NothingUsableError, match="all 2 were excluded"):
            load_export(path, profile, key=TEST_KEY, require_rows=True)


class TestWarnings:
    def test_unknown_category_is_kept_as_other_and_listed(self, export):
        loaded = export([row(ref="A", category="Self-neglect"), row(ref="B", category="self-neglect ")])

        assert loaded.episodes["trigger"].tolist() == ["other", "other"]
        assert loaded.accounting.unknown_values == {"trigger": ["Self-neglect", "self-neglect"]}
        assert loaded.accounting.warnings_by_reason() == {"unknown_value": 2}
        assert "'Self-neglect'" in loaded.accounting.statement()

    def test_unknown_list_value_is_kept_as_other_and_listed(self, export):
        loaded = export([row(contacted="Crisis Team; Street Triage")])

        assert loaded.episodes.loc[0, "escalated_to"] == ["crisis_team", "other"]
        assert loaded.accounting.unknown_values == {"escalated_to": ["Street Triage"]}

    def test_blank_team_becomes_not_recorded_with_a_warning(self, export):
        loaded = export([row(ref="A", team=""), row(ref="B", team="NULL")])

        assert loaded.episodes["team"].tolist() == ["Not recorded", "Not recorded"]
        assert loaded.accounting.rows_excluded == 0
        warnings = loaded.accounting.warnings
        assert warnings[["row", "reason"]].values.tolist() == [[2, "missing_team"], [3, "missing_team"]]

    def test_response_before_escalation_is_kept_with_a_warning(self, export):
        loaded = export([row(responded="03/04/2025 10:15")])

        assert loaded.accounting.rows_analysed == 1
        assert loaded.accounting.warnings_by_reason() == {"responded_before_escalated": 1}

    def test_common_spellings_are_understood_without_a_profile_entry(self, export):
        loaded = export([row(result="near-miss", lone="yes", contacted="999;LA Safeguarding")])
        episode = loaded.episodes.iloc[0]

        assert episode["outcome"] == "near_miss"
        assert bool(episode["lone_worker"]) is True
        assert episode["escalated_to"] == ["emergency_services", "la_safeguarding"]
        assert loaded.accounting.warnings.empty

    def test_a_count_that_is_not_a_whole_number_is_warned_and_left_blank(self, tmp_path):
        path = tmp_path / "x.csv"
        path.write_bytes(b"Ref,Date,Cat,Approvals\r\n1,03/04/2025 10:00,x,2\r\n2,03/04/2025 10:00,x,1.5\r\n"
                         b"3,03/04/2025 10:00,x,1e308\r\n4,03/04/2025 10:00,x,inf\r\n5,03/04/2025 10:00,x,-1\r\n")
        profile = {"columns": {"incident_id": "Ref", "risk_identified_at": "Date", "trigger": "Cat",
                               "approvals_before_action": "Approvals"}}
        from escalation_analysis.ingest.mapping import MappingProfile

        loaded = load_export(path, MappingProfile.model_validate(profile), key=TEST_KEY)

        assert loaded.episodes["approvals_before_action"].tolist()[0] == 2
        assert loaded.episodes["approvals_before_action"].isna().tolist() == [False, True, True, True, True]
        assert loaded.accounting.warnings_by_reason()["unparseable_approvals"] == 4


class TestColumns:
    def test_missing_required_column_names_it_and_lists_the_files_columns(self, tmp_path, profile):
        path = tmp_path / "x.csv"
        header = ["Ref", "Date", "Time", "Escalated", "Responded", "Team", "Type", "Result",
                  "Lone", "Contacted", "NHS Number", "Staff"]
        path.write_bytes(csv_bytes([row()], header=header))

        with pytest.raises(MappingError) as caught:
            load_export(path, profile, key=TEST_KEY)

        message = str(caught.value)
        assert "no column 'Category' (mapped to trigger)" in message
        assert "'Ref', 'Date', 'Time', 'Escalated'" in message and "'Type'" in message
        assert "\n" not in message

    def test_column_names_match_ignoring_case_and_spacing(self, tmp_path, profile):
        path = tmp_path / "x.csv"
        header = ["REF", "date", "TIME", "Escalated", "Responded", "team", "CATEGORY", "Result",
                  "Lone", "Contacted", "NHS  number", "Staff"]
        path.write_bytes(csv_bytes([row()], header=header))

        loaded = load_export(path, profile, key=TEST_KEY)

        assert loaded.episodes.loc[0, "incident_id"] == "R1"


def test_rows_read_equal_analysed_plus_excluded_on_a_messy_export(export):
    rows = [
        row(ref="1"), row(ref="1"), row(ref="2", date="TBC"), row(ref="3", team=""),
        row(ref="4", category="Unknown thing"), row(ref="", date=""), row(ref="5", escalated="01/01/2020"),
        [""] * 12, row(ref="6", nhs="9434765918"),
    ]
    loaded = export(rows)

    assert loaded.accounting.rows_read == 9
    assert balanced(loaded)
    assert loaded.accounting.rows_excluded == 5  # duplicate, unreadable, missing id, early, blank
    assert sorted(loaded.episodes["incident_id"]) == ["1", "3", "4", "6"]


def test_the_export_text_is_let_go_before_the_episodes_are_checked(monkeypatch):
    """At ten million rows the export's text (5 GB in Arrow) and the episodes built from it do
    not fit in memory side by side within the limit: the loader lets go of each column once read,
    so that when the episodes are checked it holds less than the text it read (the free text and
    references the episodes share with it included)."""
    import pyarrow as pa

    from escalation_analysis.ingest import export

    held: dict[str, int] = {}
    read, check = export.read_profiled_export, export.validate_episodes

    def reading(*args, **kwargs):
        raw = read(*args, **kwargs)
        held["read"] = pa.total_allocated_bytes() - held["before"]
        return raw

    def checking(frame, *args, **kwargs):
        held["checked"] = pa.total_allocated_bytes() - held["before"]
        return check(frame, *args, **kwargs)

    monkeypatch.setattr(export, "read_profiled_export", reading)
    monkeypatch.setattr(export, "validate_episodes", checking)
    held["before"] = pa.total_allocated_bytes()
    loaded = load_export(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", key=TEST_KEY)
    assert loaded.accounting.rows_read == 5000
    assert held["checked"] < held["read"], held
