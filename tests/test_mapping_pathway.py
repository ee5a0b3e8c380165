"""Mapping profiles and pathway files: validation that names the bad key, and new layouts."""

from __future__ import annotations

import datetime as dt
import textwrap

import pandas as pd
import pytest
import yaml
from conftest import SAMPLE, TEST_KEY

from escalation_analysis.errors import MappingError, PathwayError
from escalation_analysis.ingest.export import load_export
from escalation_analysis.ingest.mapping import read_mapping
from escalation_analysis.ingest.pathway import read_pathway
from escalation_analysis.synthetic import example_pathway

MINIMAL = {"columns": {"incident_id": "Ref", "risk_identified_at": ["Date", "Time"], "trigger": "Cat"}}


def mapping_error(tmp_path, data: dict | str) -> str:
    path = tmp_path / "mapping.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(MappingError) as caught:
        read_mapping(path)
    return str(caught.value)


def pathway_error(tmp_path, change) -> str:
    data = yaml.safe_load((SAMPLE / "pathway.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "pathway.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(PathwayError) as caught:
        read_pathway(path)
    return str(caught.value)


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and len(message) < 400


class TestMappingValidation:
    def test_sample_profile_is_valid(self):
        profile = read_mapping(SAMPLE / "mapping.yaml")

        assert profile.dayfirst is True and profile.timezone == "Europe/London"
        assert profile.local_columns("risk_identified_at") == ["Incident Date", "Incident Time"]

    @pytest.mark.parametrize(
        ("change", "expected"),
        [
            (lambda d: d["columns"].update(trigger="TODO"),
             "mapping.yaml, columns: trigger is still TODO: write the name of the export's column for trigger "
             "there, in quotes; it is required."),
            (lambda d: d["columns"].update(team="TODO"),
             "mapping.yaml, columns: team is still TODO: write the name of the export's column for team there, "
             "in quotes, or delete the line if the export has none."),
            (lambda d: d["columns"].update(escalated_at=["Esc Date", "TODO"]), "escalated_at is still TODO"),
            (lambda d: d.update(values={"trigger": {"Self-neglect": "TODO"}}),
             "mapping.yaml, values: trigger 'Self-neglect' is still TODO: replace TODO with one of imminent_risk, "
             "loss_of_contact, deterioration, other."),
            (lambda d: d.update(values={"lone_worker": {"Maybe": "TODO"}}),
             "lone_worker 'Maybe' is still TODO: replace TODO with one of true, false."),
        ],
    )
    def test_a_todo_left_in_a_profile_is_one_sentence_naming_the_field(self, tmp_path, change, expected):
        data = {"columns": dict(MINIMAL["columns"])}
        change(data)

        message = mapping_error(tmp_path, data)

        assert expected in message
        assert one_sentence(message)

    def test_misspelt_canonical_field_is_named(self, tmp_path):
        data = {"columns": {"incident_idd": "Ref", "risk_identified_at": "Date", "trigger": "Cat"}}

        message = mapping_error(tmp_path, data)

        assert "'incident_idd' is not a canonical field" in message
        assert "columns" in message and "incident_id" in message
        assert one_sentence(message)

    @pytest.mark.parametrize(
        ("extra", "named"),
        [
            ({"dayfrist": True}, "'dayfrist' is not a setting"),
            ({"encoding": "utf-99"}, "'utf-99' is not a text encoding"),
            ({"encoding": "rot13"}, "'rot13' is not a text encoding"),
            ({"timezone": "London"}, "'London' is not a time zone"),
            ({"delimiter": ";;"}, "delimiter"),
            ({"values": {"trigger": {"Self harm": "self_harm"}}}, "trigger value 'self_harm'"),
            ({"values": {"teem": {"A": "B"}}}, "'teem' is not a canonical field"),
            ({"values": {"lone_worker": {"Y": "yes"}}}, "lone_worker values must be true or false"),
            ({"lists": {"team": ","}}, "'team' is not a list field"),
            ({"nhs_number": "staff_id"}, "nhs_number names 'staff_id'"),
            ({"date_formats": {"risk_identified_at": "%Q"}}, "format '%Q'"),
            ({"date_formats": {"risk_identifed_at": "%Y"}}, "'risk_identifed_at' is not a date-time field"),
        ],
    )
    def test_bad_setting_is_named_in_one_sentence(self, tmp_path, extra, named):
        message = mapping_error(tmp_path, {**MINIMAL, **extra})

        assert named in message
        assert message.startswith("mapping.yaml")
        assert one_sentence(message)

    def test_required_fields_must_be_mapped(self, tmp_path):
        message = mapping_error(tmp_path, {"columns": {"incident_id": "Ref"}})

        assert "risk_identified_at, trigger must be mapped" in message

    def test_only_date_fields_take_two_columns(self, tmp_path):
        message = mapping_error(tmp_path, {"columns": {**MINIMAL["columns"], "team": ["A", "B"]}})

        assert "'team' takes one column name" in message
        assert message.startswith("mapping.yaml, columns:") and one_sentence(message)

    def test_unquoted_numbers_and_yes_no_are_matched_as_written(self, tmp_path):
        path = tmp_path / "mapping.yaml"
        path.write_text(yaml.safe_dump(MINIMAL) + textwrap.dedent("""\
            values:
              escalated_to: {999: emergency_services, 111: other}
              lone_worker: {Yes: true, No: false}
        """))

        profile = read_mapping(path)

        assert profile.value_map("escalated_to") == {"999": "emergency_services", "111": "other"}
        assert profile.value_map("lone_worker") == {
            "true": True, "yes": True, "on": True, "false": False, "no": False, "off": False
        }

    def test_invalid_yaml_gives_the_line(self, tmp_path):
        message = mapping_error(tmp_path, "columns:\n  incident_id: Ref\n  trigger: [unclosed\n")

        assert "not valid YAML at line" in message and one_sentence(message)

    def test_missing_file_is_named(self, tmp_path):
        with pytest.raises(MappingError, match="does not exist"):
            read_mapping(tmp_path / "nope.yaml")


class TestPathwayValidation:
    def test_sample_pathway_is_the_shipped_example(self):
        assert read_pathway(SAMPLE / "pathway.yaml") == example_pathway()

    def test_non_numeric_target_names_the_full_key(self, tmp_path):
        def change(data):
            data["triggers"]["imminent_risk"]["target_minutes"] = {"in_hours": 30, "out_of_hours": "thirty"}

        message = pathway_error(tmp_path, change)

        assert "triggers.imminent_risk.target_minutes.out_of_hours" in message
        assert "constrained-float" not in message and "BandTargets" not in message
        assert "more problem" not in message
        assert one_sentence(message)

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            (lambda d: d.update(bank_holiday="scotland"), "'bank_holiday' is not a setting"),
            (lambda d: d.update(bank_holidays="wales"), "bank_holidays"),
            (lambda d: d["in_hours"].update(start="25:00"), "in_hours.start"),
            (lambda d: d["in_hours"].update(start="18:00"), "start must be earlier than end"),
            (lambda d: d["in_hours"].update(days=["Monday"]), "in_hours.days.0"),
            (lambda d: d["triggers"].update(self_harm={"label": "x", "target_minutes": 5}),
             "'self_harm' is not a trigger"),
            (lambda d: d["triggers"]["deterioration"]["steps"].update(in_hours=["duty_seniour"]),
             "step 'duty_seniour'"),
            (lambda d: d["triggers"]["imminent_risk"].update(target_minutes=-5),
             "triggers.imminent_risk.target_minutes"),
            (lambda d: d["triggers"]["imminent_risk"].pop("label"),
             "'triggers.imminent_risk.label' is required"),
            (lambda d: d["contacts"]["police"].update(agency="cops"), "contacts.police.agency"),
            (lambda d: d.update(max_approvals_before_action=-1), "max_approvals_before_action"),
            (lambda d: d["in_hours"].update(start="09:00+01:00"), "without a time zone"),
            (lambda d: d["kpi_targets"].update(compliance_pct=190), "compliance_pct is a percentage"),
            (lambda d: d["kpi_targets"].update(compliance=90), "'kpi_targets.compliance' is not a setting"),
            (lambda d: d["kpi_targets"].update(overdue_actions=-1), "kpi_targets.overdue_actions"),
            (lambda d: d["protective_marking"].update(internal=""), "protective_marking.internal"),
            (lambda d: d.update(changes=[{"date": "2025-13-01", "text": "New rota"}]), "changes.0.date"),
            (lambda d: d.update(changes=[{"date": "2025-09-01"}]), "'changes.0.text' is required"),
            (lambda d: d.update(changes=[{"date": "2025-09-01", "text": "x" * 81}]), "changes.0.text"),
            (lambda d: d.update(changes=[{"date": "2025-09-01 10:00", "text": "New rota"}]), "without a time"),
            (lambda d: d.update(changes=[{"date": "2025-09-01", "text": "New rota", "by": "me"}]),
             "'changes.0.by' is not a setting"),
            (lambda d: d.update(changes=[{"date": "2025-09-01", "text": "New rota"}] * 2), "listed twice"),
        ],
    )
    def test_bad_key_is_named_in_one_sentence(self, tmp_path, change, named):
        message = pathway_error(tmp_path, change)

        assert named in message
        assert message.startswith("pathway.yaml")
        assert one_sentence(message)

    def test_unquoted_yaml_times_are_read_as_clock_times(self, tmp_path):
        text = (SAMPLE / "pathway.yaml").read_text(encoding="utf-8")
        text = text.replace('start: "09:00"', "start: 9:00").replace('end: "17:00"', "end: 17:30")
        path = tmp_path / "pathway.yaml"
        path.write_text(text)

        pathway = read_pathway(path)

        assert (pathway.in_hours.start, pathway.in_hours.end) == (dt.time(9, 0), dt.time(17, 30))

    def test_targets_by_band_and_the_fallback_for_unlisted_triggers(self, tmp_path):
        path = tmp_path / "pathway.yaml"
        path.write_text(textwrap.dedent("""\
            name: Test
            triggers:
              imminent_risk: {label: Imminent, target_minutes: {in_hours: 30, out_of_hours: 45}}
              deterioration: {label: Worse, target_minutes: 240}
        """))

        pathway = read_pathway(path)

        assert pathway.target_minutes("imminent_risk", "in_hours") == 30
        assert pathway.target_minutes("imminent_risk", "out_of_hours") == 45
        assert pathway.target_minutes("deterioration", "out_of_hours") == 240
        assert pathway.target_minutes("other", "out_of_hours") == 45  # strictest listed target
        assert pathway.expected_steps("imminent_risk", "in_hours") == []
        assert pathway.bank_holidays == "england-and-wales"


    def test_kpi_targets_markings_and_service_are_read_from_the_file(self, tmp_path):
        path = tmp_path / "pathway.yaml"
        path.write_text(textwrap.dedent("""\
            name: Test
            service: Anytown community mental health
            triggers: {imminent_risk: {label: Imminent, target_minutes: 60}}
            kpi_targets:
              compliance_pct: 85
              overdue_actions: {target: 3, source: Incident response plan}
            protective_marking: {internal: "OFFICIAL-SENSITIVE: PERSONAL"}
        """))

        pathway = read_pathway(path)

        assert pathway.service == "Anytown community mental health"
        assert (pathway.kpi_targets.value("compliance_pct"), pathway.kpi_targets.source("compliance_pct")) == (85, None)
        assert pathway.kpi_targets.source("overdue_actions") == "Incident response plan"
        assert pathway.kpi_targets.value("imminent_risk_compliance_pct") is None
        assert pathway.protective_marking.for_audience("internal") == "OFFICIAL-SENSITIVE: PERSONAL"
        assert pathway.protective_marking.for_audience("external") == "OFFICIAL"
        assert pathway.protective_marking.for_audience("partners") == "OFFICIAL"

    def test_changes_are_read_in_date_order(self, tmp_path):
        path = tmp_path / "pathway.yaml"
        path.write_text(textwrap.dedent("""\
            name: Test
            triggers: {other: {label: Other, target_minutes: 60}}
            changes:
              - {date: 2025-09-01, text: New on-call rota}
              - {date: "2025-04-14", text: "  Duty senior phone line  "}
        """))

        changes = read_pathway(path).changes

        assert [(c.date, c.text) for c in changes] == [
            (dt.date(2025, 4, 14), "Duty senior phone line"), (dt.date(2025, 9, 1), "New on-call rota")]

    def test_a_pathway_without_targets_sets_none_and_marks_by_audience(self, tmp_path):
        path = tmp_path / "pathway.yaml"
        path.write_text("name: Test\ntriggers: {other: {label: Other, target_minutes: 60}}\n")

        pathway = read_pathway(path)

        assert all(pathway.kpi_targets.value(kpi) is None for kpi in type(pathway.kpi_targets).model_fields)
        assert pathway.protective_marking.for_audience("internal") == "OFFICIAL-SENSITIVE"
        assert pathway.protective_marking.for_audience("external") == "OFFICIAL"


class TestNewLayoutNeedsOnlyAProfile:
    """A second provider's export: other names, dates, delimiter, encoding; no code changes."""

    EXPORT = (
        "Case No;When Identified;Risk Type;First Contact;Service;Near miss?;Alone?;Who;Client NHS\r\n"
        "C-001;3 Apr 2025 14:05;Suicide risk \u2013 imminent;2025-04-03 14:50;St Mary\u2019s CMHT;"
        "Yes;Yes;Crisis line / Police;943 476 5919\r\n"
        "C-002;30 Mar 2025 01:30;Missing person;30 Mar 2025 03:00;St Mary\u2019s CMHT;No;No;Police;\r\n"
        "C-003;26 Oct 2025 01:50;Getting worse;2025-10-26 01:10;\u00a3 Team;No;No;;9434765918\r\n"
        "C-004;12 Dec 2025 09:00;Suicide risk \u2013 imminent;;;No;No;;\r\n"
    )
    PROFILE = """\
source: Second provider (cp1252, semicolons)
encoding: auto
delimiter: ";"
dayfirst: true
columns:
  incident_id: Case No
  risk_identified_at: When Identified
  trigger: Risk Type
  escalated_at: First Contact
  team: Service
  outcome: Near miss?
  lone_worker: Alone?
  escalated_to: Who
  service_user_id: Client NHS
nhs_number: service_user_id
values:
  trigger:
    "Suicide risk - imminent": imminent_risk
    "Missing person": loss_of_contact
    "Getting worse": deterioration
  outcome: {Yes: near_miss, No: incident}
  lone_worker: {Yes: true, No: false}
  escalated_to: {"Crisis line": crisis_team, "Police": police}
lists:
  escalated_to: "/"
"""

    @pytest.fixture
    def loaded(self, tmp_path):
        export = tmp_path / "second_provider.csv"
        export.write_bytes(self.EXPORT.encode("cp1252"))
        profile = tmp_path / "second_provider.yaml"
        profile.write_text(self.PROFILE, encoding="utf-8")
        return load_export(export, profile, key=TEST_KEY)

    def test_every_row_is_kept_and_the_encoding_reported(self, loaded):
        assert loaded.accounting.rows_read == 4
        assert loaded.accounting.rows_excluded == 0
        assert loaded.accounting.encoding == "cp1252"
        assert loaded.accounting.source == "Second provider (cp1252, semicolons)"

    def test_canonical_values_by_hand(self, loaded):
        e = loaded.episodes.set_index("incident_id")
        london = "Europe/London"

        assert e.loc["C-001", "risk_identified_at"] == pd.Timestamp("2025-04-03 14:05", tz=london)
        assert e.loc["C-001", "escalated_at"] == pd.Timestamp("2025-04-03 14:50", tz=london)
        assert e["trigger"].tolist() == ["imminent_risk", "loss_of_contact", "deterioration", "imminent_risk"]
        assert e["team"].tolist() == ["St Mary\u2019s CMHT", "St Mary\u2019s CMHT", "\u00a3 Team", "Not recorded"]
        assert e["outcome"].tolist() == ["near_miss", "incident", "incident", "incident"]
        assert e["lone_worker"].tolist() == [True, False, False, False]
        assert e.loc["C-001", "escalated_to"] == ["crisis_team", "police"]
        assert pd.isna(e.loc["C-004", "escalated_at"])

    def test_clock_changes_in_the_new_layout(self, loaded):
        e = loaded.episodes.set_index("incident_id")
        delay = (e["escalated_at"] - e["risk_identified_at"]).dt.total_seconds() / 60

        assert delay["C-002"] == 30
        assert delay["C-003"] == 20

    def test_warnings_in_the_new_layout(self, loaded):
        assert loaded.accounting.warnings_by_reason() == {
            "missing_team": 1,
            "invalid_nhs_number": 1,
            "nonexistent_local_time": 1,
            "ambiguous_local_time": 2,
        }
        assert loaded.accounting.unknown_values == {}
