"""Page 1 of every report: the cover block, the findings in words, and what each audience may see.

The synthetic sample plants known answers (``data/sample/truth.json``): Riverside CMHT's
timeliness collapses from October 2025, delays out of hours are 1.8 times those in hours,
and three barriers are met by lone workers only ("No mobile signal" among them). The front
sheet must find them, in words, with their numbers, and say only what its audience may see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from escalation_analysis.measures import headlines
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews import kpis
from escalation_analysis.reviews.disclosure import plan_for, policy_for
from escalation_analysis.reviews.front_sheet import build_front_sheet, section_id

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
TRUTH = json.loads((SAMPLE / "truth.json").read_text())
RUN_AT = dt.datetime(2026, 1, 5, 9, 30)


def _analyse(start: str, end: str):
    return analyse(SAMPLE / "incidents.csv", SAMPLE / "mapping.yaml", SAMPLE / "pathway.yaml", start, end,
                   steps=SAMPLE / "steps.csv", actions=SAMPLE / "learning_actions.csv",
                   training=SAMPLE / "training.csv", key=b"front-sheet-test-key")


@pytest.fixture(scope="module")
def quarter():
    return _analyse("2025-10-01", "2025-12-31")


@pytest.fixture(scope="module")
def internal(quarter):
    return build_front_sheet(quarter, title="Near-miss learning review", audience="internal", run_at=RUN_AT)


@pytest.fixture(scope="module")
def external(quarter):
    return build_front_sheet(quarter, title="Contract monitoring", audience="external", run_at=RUN_AT)


def finding(sheet, key: str) -> str:
    found = [f.text for f in sheet.findings if f.key == key]
    assert found, f"no {key} finding in {[f.key for f in sheet.findings]}"
    return found[0]


class TestHeadlines:
    def test_the_planted_out_of_hours_factor_lies_in_the_ratios_interval(self):
        whole = _analyse("2024-04-01", "2026-03-31")
        ratio = headlines.delay_ratio(whole.episodes)
        assert ratio.ci_low < TRUTH["ooh_delay_factor"] < ratio.ci_high
        assert ratio.ratio == pytest.approx(ratio.median_out_of_hours / ratio.median_in_hours)

    def test_the_ratio_is_the_same_every_time_the_report_runs(self, quarter):
        assert headlines.delay_ratio(quarter.episodes) == headlines.delay_ratio(quarter.episodes)

    @pytest.mark.parametrize("n", [10, 11, 191, 420, 5_000, 40_000])
    def test_the_bootstrap_medians_are_numpys_medians_of_the_same_draws(self, n):
        # read off ranks instead of np.median per resample: the same numbers, bit for bit
        # (odd and even counts, tied values, several blocks, ranks too many for int16)
        values = np.random.default_rng(n).exponential(60, n).round(0 if n % 2 else 1)
        samples = 30 if n > 10_000 else 2_000

        def numpys(rng):
            out = np.empty(samples)
            block = max(1, 4_000_000 // n)
            for first in range(0, samples, block):
                size = min(block, samples - first)
                out[first:first + size] = np.median(values[rng.integers(0, n, size=(size, n))], axis=1)
            return out

        ours = headlines._bootstrap_medians(values, np.random.default_rng(1), samples)
        assert ours.tobytes() == numpys(np.random.default_rng(1)).tobytes()

    def test_no_ratio_from_a_handful_of_episodes(self, quarter):
        few = quarter.episodes.head(12)
        assert headlines.delay_ratio(few).ratio is None

    def test_the_lone_only_barrier_is_found_with_none_for_accompanied_staff(self, quarter):
        table = headlines.lone_working_barriers(quarter.episodes).set_index("barrier")
        assert TRUTH["lone_only_barrier"] in table.index
        assert table.loc[TRUTH["lone_only_barrier"], "accompanied"] == 0

    def test_overdue_actions_by_theme_count_each_overdue_action(self, quarter):
        themes = headlines.overdue_by_theme(quarter.actions_frame, quarter.all_episodes, quarter.as_of)
        overdue = kpis.kpi_table(quarter).set_index("kpi").loc["overdue_actions", "this_period"]
        assert themes["overdue"].sum() >= overdue  # an action may fall under several themes
        assert themes.loc[themes["theme"] != "no theme", "overdue"].max() <= overdue


class TestCover:
    def test_the_cover_names_service_pathway_periods_source_and_run(self, internal, quarter):
        cover = dict(internal.cover)
        assert cover["Service"] == quarter.pathway.service
        assert cover["Pathway"].endswith(f"version {quarter.pathway.version}")
        assert cover["Period"] == "01/10/2025 to 31/12/2025"
        assert cover["Compared with"].startswith("01/07/2025 to 30/09/2025")
        assert cover["Data source"] == "incidents.csv"
        assert cover["SHA-256 of the export"] == hashlib.sha256((SAMPLE / "incidents.csv").read_bytes()).hexdigest()
        accounting = quarter.accounting
        assert cover["Rows"].startswith(f"{accounting.rows_read:,} rows read: {accounting.rows_analysed:,} episodes")
        assert cover["Run"].startswith("05/01/2026 at 09:30 with escalation-analysis ")

    def test_the_marking_follows_the_audience(self, internal, external):
        assert internal.marking == "OFFICIAL-SENSITIVE" and external.marking == "OFFICIAL"

    def test_the_printed_header_carries_title_period_and_marking(self, internal):
        page = internal.html().markup
        assert '@top-left { content: "Near-miss learning review · 01/10/2025 to 31/12/2025"; }' in page
        assert '@top-right { content: "OFFICIAL-SENSITIVE"; }' in page


class TestFindings:
    def test_the_deteriorating_team_and_the_month_it_began(self, internal):
        text = finding(internal, "teams")
        assert text.startswith(f"{TRUTH['deteriorating_team']}: escalations within target fell to")
        assert "special cause of concern since October 2025" in text

    def test_outside_readers_are_told_what_the_team_s_months_show_not_pointed_at_a_chart_they_lack(self, external):
        text = finding(external, "teams")
        assert text.startswith(f"{TRUTH['deteriorating_team']}: ")
        assert "its monthly figures show special cause of concern since October 2025" in text
        assert "chart" not in text

    def test_the_out_of_hours_ratio_with_its_interval(self, internal, quarter):
        ratio = headlines.delay_ratio(quarter.episodes)
        text = finding(internal, "out_of_hours")
        assert f"{ratio.ratio:.1f} times that in hours" in text
        assert f"95% CI {ratio.ci_low:.1f}–{ratio.ci_high:.1f}" in text

    def test_the_lone_working_barrier(self, internal):
        text = finding(internal, "lone_working")
        assert TRUTH["lone_only_barrier"].lower() in text.lower() and "never did" in text

    def test_overdue_actions_agree_with_the_kpi_table(self, internal, quarter):
        overdue = int(kpis.kpi_table(quarter).set_index("kpi").loc["overdue_actions", "this_period"])
        assert finding(internal, "learning_actions").startswith(f"{overdue:,} learning actions were overdue")

    def test_between_three_and_five_findings_each_linked_to_its_section(self, quarter):
        from escalation_analysis.reviews.near_miss import FRONT_SHEET_LINKS

        sheet = build_front_sheet(quarter, title="Near-miss learning review", audience="internal", run_at=RUN_AT,
                                  sections={key: section for key, (section, _) in FRONT_SHEET_LINKS.items()})
        assert 3 <= len(sheet.findings) <= 5 and all(f.section for f in sheet.findings)
        page = sheet.html({"teams": "Teams compared fairly"}).markup
        assert f'<a href="#{section_id("teams")}">See Teams compared fairly.</a>' in page
        assert all(f'href="#{section_id(f.section)}"' in page for f in sheet.findings)

    def test_a_finding_whose_section_the_review_lacks_has_no_link(self, internal):
        assert all(f.section is None for f in internal.findings)  # no sections given: no dead links
        assert "href=" not in internal.html().markup

    def test_a_supervision_pack_speaks_of_its_team(self, quarter):
        team = TRUTH["deteriorating_team"]
        selected = quarter.episodes[quarter.episodes["team"] == team]
        sheet = build_front_sheet(quarter, title="Supervision", audience="internal", episodes=selected, team=team,
                                  run_at=RUN_AT)
        assert finding(sheet, "teams").startswith(f"{team}:")
        assert all(f.key != "learning_actions" for f in sheet.findings)


    def test_without_special_cause_concern_the_finding_says_so_plainly(self, quarter, monkeypatch):
        monkeypatch.setattr(headlines, "concerning_groups", lambda *args: pd.DataFrame(columns=["group"]))
        sheet = build_front_sheet(quarter, title="Near-miss learning review", audience="internal", run_at=RUN_AT)
        assert finding(sheet, "teams") == "No team's monthly timeliness shows special-cause concern in the period."
        selected = quarter.episodes[quarter.episodes["team"] == "South CMHT"]
        sheet = build_front_sheet(quarter, title="Supervision", audience="internal", episodes=selected,
                                  team="South CMHT", run_at=RUN_AT)
        assert finding(sheet, "teams") == "South CMHT's monthly timeliness shows no special-cause concern in the period."


class TestExternalReaders:
    def test_external_findings_use_only_what_the_disclosure_plan_publishes(self, external, quarter):
        plan = plan_for(quarter, policy_for("external"))
        teams = plan.table("timeliness_by_team").frame.set_index("team")
        published = teams.loc[TRUTH["deteriorating_team"], "within_target_pct"]
        assert finding(external, "teams").startswith(f"{TRUTH['deteriorating_team']}: {published:.0f}% escalated")
        overdue = plan.table("learning_actions").frame.set_index("actions").loc["all actions", "overdue"]
        assert finding(external, "learning_actions").startswith(f"{overdue:,} learning actions were overdue")

    def test_no_external_sentence_states_a_count_from_1_to_7(self, external):
        for f in external.findings:
            counts = [int(n) for n in re.findall(r"(?<![\d.,%])(\d+)(?![\d.%]| times| minutes)", f.text)]
            assert not [n for n in counts if 1 <= n <= 7], f.text

    def test_external_lone_working_finding_names_barriers_without_counts(self, external):
        text = finding(external, "lone_working")
        assert TRUTH["lone_only_barrier"].lower() in text.lower() and not re.search(r"\d", text)

    def test_external_rows_line_is_rounded(self, external):
        rows = dict(external.cover)["Rows"]
        numbers = [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", rows) if n != "5"]
        assert numbers and all(n % 5 == 0 for n in numbers)

    def test_external_rows_line_accounts_for_every_row_with_published_figures(self, external, quarter):
        """A commissioner can check read = analysed + excluded from the cover alone."""
        rows = dict(external.cover)["Rows"]
        read, analysed, excluded, outside = (int(n.replace(",", "")) for n in re.findall(r"\d[\d,]+|\d+", rows)[:4])
        assert (read, analysed, excluded) == (5000, 645, 4355) and read == analysed + excluded
        assert outside == 4310 and "of them outside the period" in rows

    def test_exact_counts_are_not_called_rounded(self, quarter):
        plan = plan_for(quarter, policy_for("external", "exact-secondary"))
        rows = dict(build_front_sheet(quarter, title="T", audience="external", run_at=RUN_AT, plan=plan).cover)["Rows"]
        assert rows.startswith("5,000 rows read: 646 episodes analysed and 4,354 excluded")
        assert "(counts from 1 to 7 shown as *;" in rows and "rounded" not in rows

    def test_the_summary_table_withholds_small_latest_values_for_external_readers(self, external):
        latest = external.mdc.table["latest"]
        assert not any(isinstance(v, int | float) and not pd.isna(v) and 1 <= v <= 7 and u == "count"
                       for v, u in zip(latest, external.mdc.table["unit"], strict=True))


def test_a_fitness_caveat_is_a_finding_and_external_readers_get_its_public_wording(quarter, monkeypatch):
    from escalation_analysis.ingest.fitness import FitnessCheck

    check = FitnessCheck("times_missing", "412 of 646 times are exactly 00:00 in column 'Time'.", 412,
                         "risk_identified_at")
    monkeypatch.setattr(quarter.accounting, "fitness", [check])
    inside = finding(build_front_sheet(quarter, title="T", audience="internal", run_at=RUN_AT), "data_quality")
    outside = finding(build_front_sheet(quarter, title="T", audience="external", run_at=RUN_AT), "data_quality")
    assert check.message in inside
    assert check.public_message.rstrip(".") in outside and "412" not in outside
