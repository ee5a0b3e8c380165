"""Synthetic incident exports with planted effects whose answers are known.

Real exports cannot be shared, so the tests, the demo reports and the benchmarks run on data
made here. The export uses a local layout of its own (Datix-style display labels, UK dates,
Y/N flags, "; "-separated lists), not canonical names, so loading it exercises the mapping
profile like a real provider's file. Effects are planted on purpose and written to
``truth.json`` so tests can check the analytics recover them:

* escalation delays out of hours are ``OOH_DELAY_FACTOR`` times those in hours;
* lone workers meet more barriers (``No mobile signal`` almost only them) and are slower;
* one team (``DETERIORATING_TEAM``) is much slower in one NHS quarter;
* one team (``SMALL_TEAM``) has too few episodes to publish;
* one team (``APPROVALS_TEAM``) seeks more approvals before acting than the pathway allows;
* one team (``OUT_OF_HOURS_TEAM``) works mostly out of hours, so its crude compliance is low
  but, compared with the service for its own mix of triggers and in/out-of-hours work, it is
  close to the others;
* staff trained in scenario-based escalation in the past 12 months escalate faster;
* a fixed number of rows carry each kind of data defect, and some descriptions are hostile
  (HTML, spreadsheet formulas, very long text).

Everything is vectorised with numpy, so 10 million rows are practical for benchmarks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .csv_writer import write_csv
from .ingest.contract import TRIGGERS, as_text
from .ingest.files import arrow_text, text_series
from .ingest.pathway import Pathway
from .measures.hours import classify_hours
from .measures.targets import target_minutes

OOH_DELAY_FACTOR = 1.8
LONE_DELAY_FACTOR = 1.5
TRAINED_DELAY_FACTOR = 0.75
DETERIORATION_FACTOR = 4.0
DETERIORATING_TEAM = "Riverside CMHT"
DETERIORATION_QUARTER = ("2025-10-01", "2025-12-31")  # 2025/26 Q3
DETERIORATION_QUARTER_LABEL = "2025/26 Q3"
SMALL_TEAM = "Coastal Outreach"
SMALL_TEAM_EPISODES = 5
APPROVALS_TEAM = "East CMHT"
OUT_OF_HOURS_TEAM = "Home Treatment Team"
OUT_OF_HOURS_TEAM_DAYTIME_SHARE = 0.12
"""Share of the out-of-hours team's episodes drawn between 08:00 and 18:00 (others: 0.62)."""

TEAMS = {
    "North CMHT": 0.20,
    "South CMHT": 0.19,
    "East CMHT": 0.15,
    OUT_OF_HOURS_TEAM: 0.14,
    DETERIORATING_TEAM: 0.20,
    "Early Intervention Team": 0.12,
}
BASE_MEDIAN_MINUTES = {"imminent_risk": 30.0, "loss_of_contact": 90.0, "deterioration": 240.0, "other": 120.0}
TRIGGER_SHARE = {"imminent_risk": 0.35, "loss_of_contact": 0.30, "deterioration": 0.30, "other": 0.05}
DELAY_SIGMA = 0.6
NOT_ESCALATED_RATE = 0.04
RESPONSE_MEDIAN_MINUTES = {
    "duty_senior": 15.0, "crisis_team": 120.0, "emergency_services": 40.0, "police": 45.0,
    "ambulance": 30.0, "la_safeguarding": 2880.0, "gp": 600.0, "other": 240.0,
}
HANDOFF_MEAN_MINUTES = 20.0

LOCAL_TRIGGER = {
    "imminent_risk": "Imminent risk \u2013 suicide/self-harm",
    "loss_of_contact": "Loss of contact (high risk)",
    "deterioration": "Sudden deterioration",
    "other": "Other concern",
}
LOCAL_AGENCY = {
    "duty_senior": "Duty Senior", "crisis_team": "Crisis Team", "emergency_services": "999",
    "police": "Police", "ambulance": "Ambulance", "la_safeguarding": "LA Safeguarding",
    "gp": "GP", "other": "Other",
}
LOCAL_HARM = {"none": "No harm", "low": "Low harm", "moderate": "Moderate harm", "severe": "Severe harm", "death": "Death"}
LONE_BARRIERS = ["No mobile signal", "Could not reach duty senior", "No safe place to make the call"]
OTHER_BARRIERS = [
    "Awaiting manager approval", "Crisis team phone not answered", "Unclear which team to contact",
    "Electronic record unavailable", "Police declined to attend (RCRP)",
]
INFORMATION_ITEMS = ["risk_summary", "current_location", "safety_plan", "contact_details"]
LOCAL_INFORMATION = {
    "risk_summary": "Risk summary", "current_location": "Current location",
    "safety_plan": "Safety plan", "contact_details": "Contact details",
}
ETHNICITIES = ["White British", "White Other", "Black British", "Black African", "Black Caribbean",
               "Asian British", "Pakistani", "Indian", "Mixed", "Other", "Not stated"]
ETHNICITY_P = [0.55, 0.07, 0.05, 0.04, 0.03, 0.05, 0.05, 0.04, 0.05, 0.03, 0.04]
AGE_BANDS = ["18-25", "26-35", "36-45", "46-55", "56-65", "66+"]
GENDERS = ["Female", "Male", "Non-binary", "Not stated"]
FIRST_NAMES = ["Sam", "Alex", "Priya", "Tom", "Aisha", "Gareth", "Siobhan", "Kwame", "Megan", "Lukasz",
               "Fatima", "Rhys", "Chloe", "Daniel", "Oluwaseun", "Hannah", "Mohammed", "Zofia", "Ewan", "Grace"]
LAST_NAMES = ["Patel", "Jones", "Okafor", "Williams", "Khan", "Murphy", "Nowak", "Evans", "Smith", "Ahmed",
              "Taylor", "Brown", "O'Neill", "Davies", "Hughes", "Campbell", "Singh", "Roberts", "Walker", "Wright"]
DESCRIPTION_OPENINGS = [
    "Home visit: service user disclosed thoughts of ending their life.",
    "Did not attend depot appointment; not at home on welfare visit.",
    "Carer rang duty line concerned about rapid change in presentation.",
    "Telephone contact: service user described a plan and access to means.",
    "Not seen for 3 planned contacts; family unable to locate.",
    "Presentation markedly worse than last week; not sleeping, hearing voices.",
]
HOSTILE_DESCRIPTIONS = [
    "<script>alert('escalation')</script> Visited at home, risk discussed.",
    "=HYPERLINK(\"http://example.invalid\",\"click\") crisis team called.",
    "<img src=x onerror=alert(1)> Police attended \u2013 \u201cno concerns\u201d.",
    "Robert'); DROP TABLE incidents;-- left a voicemail for duty senior.",
    "Costs of travel \u00a312.50; \u201cquoted\u201d remark \u2014 see notes.\nSecond line of notes.",
    "\u0141ukasz \u017b\u00f3\u0142\u0107 seen with interpreter \U0001F642 safety plan updated.",
]
EXPECTED_DEFECTS = {
    "duplicate_row": 15,
    "missing_incident_id": 4,
    "missing_risk_identified_at": 5,
    "unparseable_risk_identified_at": 6,
    "missing_trigger": 3,
    "unparseable_escalated_at": 4,
    "escalated_before_identified": 7,
}
EXPECTED_WARNINGS = {
    "missing_team": 12,
    "unknown_value": 11,  # 6 triggers 'Self-neglect' + 5 agencies 'Street Triage'
    "responded_before_escalated": 4,
    "invalid_nhs_number": 9,
}
"""Planted warnings; clock-change warnings are counted from the written export."""
SAMPLE_START = "2024-04-01"
SAMPLE_END = "2026-03-31"
CLOCK_FORWARD = ["2025-03-30 01:20", "2025-03-30 01:45"]
CLOCK_BACK = ["2025-10-26 01:50", "2024-10-27 01:15"]
EXPORT_COLUMNS = [
    "Ref", "Incident Date", "Incident Time", "Escalation Date", "Escalation Time",
    "Crisis Response Date", "Crisis Response Time", "Team", "Category", "Result", "Severity",
    "Lone Worker", "Escalated To", "Barriers", "Information Shared", "Approvals Sought",
    "Description", "NHS Number", "Reported By", "Ethnicity", "Age Band", "Gender",
]


def example_pathway_text() -> str:
    """The commented example pathway shipped with the package (also used by ``pathway init``)."""
    return resources.files("escalation_analysis").joinpath("resources/pathway_example.yaml").read_text("utf-8")


def example_pathway() -> Pathway:
    """The example pathway, parsed."""
    import yaml

    return Pathway.model_validate(yaml.safe_load(example_pathway_text()))


MAPPING_TEXT = """\
# Mapping profile for the synthetic sample export (incidents.csv / incidents.xlsx).
# Left: canonical field. Right: the export's own column name(s).
source: Synthetic Datix-style export (escalation-review sample)
encoding: auto
dayfirst: true
timezone: Europe/London
columns:
  incident_id: Ref
  risk_identified_at: [Incident Date, Incident Time]
  escalated_at: [Escalation Date, Escalation Time]
  responded_at: [Crisis Response Date, Crisis Response Time]
  team: Team
  trigger: Category
  outcome: Result
  harm: Severity
  lone_worker: Lone Worker
  escalated_to: Escalated To
  barriers: Barriers
  information_shared: Information Shared
  approvals_before_action: Approvals Sought
  description: Description
  service_user_id: NHS Number
  staff_id: Reported By
  ethnicity: Ethnicity
  age_band: Age Band
  gender: Gender
nhs_number: service_user_id
values:
  trigger:
    "Imminent risk \u2013 suicide/self-harm": imminent_risk
    "Loss of contact (high risk)": loss_of_contact
    "Sudden deterioration": deterioration
    "Other concern": other
  outcome: {"Near Miss": near_miss, "Incident": incident}
  lone_worker: {"Y": true, "N": false}
  escalated_to:
    "Duty Senior": duty_senior
    "Crisis Team": crisis_team
    "999": emergency_services
    "Police": police
    "Ambulance": ambulance
    "LA Safeguarding": la_safeguarding
    "GP": gp
  information_shared:
    "Risk summary": risk_summary
    "Current location": current_location
    "Safety plan": safety_plan
    "Contact details": contact_details
lists:
  escalated_to: ";"
  barriers: ";"
  information_shared: ";"
# Optional logs (steps.csv, learning_actions.csv, training.csv). Agencies in the step log use
# the escalated_to values above.
step_log:
  columns: {incident_id: Ref, step: Step, agency: Agency, at: At}
learning_actions:
  columns: {action: Action, owner: Owner, raised: Raised, due: Due, status: Status, incident_id: Linked Incident}
training_log:
  columns: {staff_id: Staff, course: Course, completed_on: Completed On}
  scenario_courses: ["Scenario-based escalation training"]
"""


@dataclass
class Sample:
    """A generated sample: the export in its local layout, the logs and the known answers."""

    export: pd.DataFrame
    steps: pd.DataFrame
    actions: pd.DataFrame
    training: pd.DataFrame
    truth: dict = field(default_factory=dict)


def make_sample(rows: int = 5000, seed: int = 2025, *, logs: bool = True) -> Sample:
    """Generate a synthetic export of ``rows`` rows (defect rows and duplicates included)."""
    if rows < 200:
        raise ValueError("a sample needs at least 200 rows to plant its effects")
    rng = np.random.default_rng(seed)
    pathway = example_pathway()
    n = rows - EXPECTED_DEFECTS["duplicate_row"]
    ep = _episodes(rng, n, pathway)
    staff = _staff(rng)
    ep = _assign_staff(rng, ep, staff)
    training = _training(rng, staff)
    ep["trained"] = _trained_within_year(ep, training)
    ep = _delays(rng, ep, pathway)
    steps = _steps(rng, ep, pathway) if logs else pd.DataFrame()
    ep = _people_and_text(rng, ep, steps)
    export = _local_layout(ep, staff)
    export, truth_rows = _plant_defects(rng, export, ep)
    actions = _actions(rng, ep) if logs else pd.DataFrame()
    truth = _truth(ep, export, truth_rows, seed)
    training_out = training.merge(staff[["staff_id", "name"]], on="staff_id")[["name", "course", "completed_on"]]
    training_out = training_out.sort_values(["completed_on", "name"], ignore_index=True)
    training_out["completed_on"] = training_out["completed_on"].dt.strftime("%d/%m/%Y")
    training_out = training_out.rename(columns={"name": "Staff", "course": "Course", "completed_on": "Completed On"})
    return Sample(export, steps, actions, training_out, truth)


def _episodes(rng: np.random.Generator, n: int, pathway: Pathway) -> pd.DataFrame:
    start, end = pd.Timestamp(SAMPLE_START), pd.Timestamp(SAMPLE_END)
    days = (end - start).days + 1
    n_small = SMALL_TEAM_EPISODES
    team = rng.choice(len(TEAMS), size=n - n_small, p=np.array(list(TEAMS.values())))
    team = _labelled(np.concatenate([team, np.repeat(len(TEAMS), n_small)]), [*TEAMS, SMALL_TEAM])
    day = rng.integers(0, days, size=n)
    daytime_share = np.where(np.asarray(team.codes) == list(TEAMS).index(OUT_OF_HOURS_TEAM),
                             OUT_OF_HOURS_TEAM_DAYTIME_SHARE, 0.62)
    daytime = rng.random(n) < daytime_share
    minute_of_day = np.where(
        daytime, rng.integers(8 * 60, 18 * 60, size=n), (18 * 60 + rng.integers(0, 14 * 60, size=n)) % (24 * 60)
    )
    naive = start + pd.to_timedelta(day, unit="D") + pd.to_timedelta(minute_of_day, unit="min")
    naive = pd.Series(naive)
    # keep random times out of the clock-change hours; planted ones are added on purpose
    local_hour = naive.dt.hour
    change_day = naive.dt.normalize().isin(pd.to_datetime(
        ["2024-10-27", "2025-03-30", "2025-10-26", "2026-03-29"]))
    naive = naive.where(~(change_day & local_hour.isin([0, 1, 2])), naive + pd.Timedelta(hours=3))
    planted = pd.to_datetime(CLOCK_FORWARD + CLOCK_BACK)
    naive.iloc[:len(planted)] = planted
    trigger = _labelled(rng.choice(4, size=n, p=list(TRIGGER_SHARE.values())), list(TRIGGER_SHARE))
    ep = pd.DataFrame({"naive": naive, "team": team, "trigger": trigger})
    ep = ep.sort_values("naive", kind="stable", ignore_index=True)
    instants = ep["naive"].dt.tz_localize("Europe/London", ambiguous=np.ones(n, bool), nonexistent=pd.Timedelta(hours=1))
    ep["risk_at"] = instants
    bands = classify_hours(instants, pathway)
    ep["band"] = bands["band"]
    ep["lone"] = rng.random(n) < 0.35
    numbers = pc.cast(pa.array(np.arange(100001, 100001 + n)), pa.large_string())
    ep["ref"] = text_series(pc.binary_join_element_wise(pa.scalar("W", pa.large_string()), numbers, pa.scalar("", pa.large_string())))
    return ep


def _labelled(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    """Values drawn as positions in ``labels``, kept as a categorical (a byte per row, not a string)."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int16), categories=labels)


def _text_from_codes(codes: np.ndarray, labels: list[str]) -> pd.Series:
    """Text per row, taken from a small table of ``labels`` by position (in Arrow)."""
    table = pa.array(labels, type=pa.large_string())
    return text_series(table.take(pa.array(np.asarray(codes, dtype=np.int64))))


def _staff(rng: np.random.Generator) -> pd.DataFrame:
    teams = [*list(TEAMS), SMALL_TEAM]
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    chosen = rng.choice(len(names), size=12 * len(teams), replace=False)
    return pd.DataFrame(
        {
            "staff_id": np.arange(len(chosen)),
            "name": np.array(names)[chosen],
            "team": np.repeat(teams, 12),
        }
    )


def _assign_staff(rng: np.random.Generator, ep: pd.DataFrame, staff: pd.DataFrame) -> pd.DataFrame:
    team_codes = pd.Categorical(ep["team"], categories=[*list(TEAMS), SMALL_TEAM]).codes
    ep["staff_id"] = team_codes * 12 + rng.integers(0, 12, size=len(ep))
    return ep


def _training(rng: np.random.Generator, staff: pd.DataFrame) -> pd.DataFrame:
    """Each staff member completes scenario training at random points (about yearly for half)."""
    frames = []
    for course, per_person in (("Scenario-based escalation training", 3), ("Safeguarding adults level 3", 2)):
        k = len(staff) * per_person
        when = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 1180, size=k), unit="D")
        frames.append(pd.DataFrame({"staff_id": np.repeat(staff["staff_id"].to_numpy(), per_person),
                                    "course": course, "completed_on": when}))
    training = pd.concat(frames, ignore_index=True)
    keep = rng.random(len(training)) < 0.55
    return training[keep].reset_index(drop=True)


def _trained_within_year(ep: pd.DataFrame, training: pd.DataFrame) -> np.ndarray:
    """True when the staff member completed scenario training in the 365 days before the episode."""
    scenario = training[training["course"].str.startswith("Scenario")].sort_values("completed_on")
    left = pd.DataFrame({"staff_id": ep["staff_id"], "when": ep["naive"].dt.normalize(), "pos": np.arange(len(ep))})
    merged = pd.merge_asof(
        left.sort_values("when"), scenario.rename(columns={"completed_on": "when_trained"}),
        left_on="when", right_on="when_trained", by="staff_id", direction="backward",
    )
    recent = (merged["when"] - merged["when_trained"]).dt.days.between(0, 365)
    out = np.zeros(len(ep), dtype=bool)
    out[merged["pos"].to_numpy()] = recent.fillna(False).to_numpy()
    return out


def _delays(rng: np.random.Generator, ep: pd.DataFrame, pathway: Pathway) -> pd.DataFrame:
    n = len(ep)
    base = np.array([BASE_MEDIAN_MINUTES[t] for t in ep["trigger"].cat.categories])[ep["trigger"].cat.codes]
    factor = np.where(ep["band"] == "out_of_hours", OOH_DELAY_FACTOR, 1.0)
    factor *= np.where(ep["lone"], LONE_DELAY_FACTOR, 1.0)
    factor *= np.where(ep["trained"], TRAINED_DELAY_FACTOR, 1.0)
    q_start, q_end = (pd.Timestamp(d) for d in DETERIORATION_QUARTER)
    in_quarter = (ep["naive"] >= q_start) & (ep["naive"] < q_end + pd.Timedelta(days=1))
    bad = ((ep["team"] == DETERIORATING_TEAM) & in_quarter).to_numpy()
    factor *= np.where(bad, DETERIORATION_FACTOR, 1.0)
    delay = np.round(base * factor * np.exp(DELAY_SIGMA * rng.standard_normal(n)), 0).clip(1, None)
    ep["delay"] = delay
    ep["escalated"] = rng.random(n) >= NOT_ESCALATED_RATE * np.where(ep["lone"], 2.0, 1.0)
    ep["escalated"] = ep["escalated"].to_numpy()
    ep["escalated_at"] = (ep["risk_at"] + pd.to_timedelta(delay, unit="min")).where(ep["escalated"])
    ep["deteriorating"] = bad
    targets = target_minutes(ep["trigger"], ep["band"], pathway).to_numpy()
    ep["late"] = ~ep["escalated"] | (delay > targets)
    return ep


def _steps(rng: np.random.Generator, ep: pd.DataFrame, pathway: Pathway) -> pd.DataFrame:
    """The step log: each contact in order and each receiving service's response.

    Deviations are planted: 10% of routes skip the first expected contact and 6% swap the
    first two. The first recorded contact is the escalation itself.
    """
    escalated = ep[ep["escalated"]]
    frames = []
    keys = [as_text(escalated["trigger"]), as_text(escalated["band"])]
    for (trigger, band), group in escalated.groupby(keys, sort=True):  # <= 8 groups
        expected = pathway.expected_steps(trigger, band) or ["duty_senior"]
        k, m = len(group), len(expected)
        route = np.tile(np.array(expected, dtype=object), (k, 1))
        if m > 1:
            swap = rng.random(k) < 0.06
            route[swap, 0], route[swap, 1] = route[swap, 1], route[swap, 0]
            skip = (rng.random(k) < 0.10) & ~swap
            shifted = np.concatenate([route[:, 1:], np.full((k, 1), None, dtype=object)], axis=1)
            route = np.where(skip[:, None], shifted, route)
        gaps = rng.exponential(HANDOFF_MEAN_MINUTES, size=(k, m)).round().clip(1, None)
        gaps[:, 0] = 0
        base = group["escalated_at"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
        at = base[:, None] + (gaps.cumsum(axis=1) * 60_000_000).astype("timedelta64[us]")
        keep = pd.notna(route)  # element-wise over the route matrix
        refs = np.repeat(group["ref"].to_numpy(), m).reshape(k, m)
        frames.append(pd.DataFrame({"ref": refs[keep], "agency": route[keep].astype(str), "at": at[keep], "step": "contacted"}))
    contacts = pd.concat(frames, ignore_index=True)
    contacts["at"] = contacts["at"].dt.tz_localize("UTC").dt.tz_convert("Europe/London")
    response = rng.lognormal(np.log(contacts["agency"].map(RESPONSE_MEDIAN_MINUTES).to_numpy()), 0.7).round().clip(1, None)
    responded = contacts.assign(at=contacts["at"] + pd.to_timedelta(response, unit="min"), step="responded")
    responded = responded[rng.random(len(responded)) < 0.9]
    steps = pd.concat([contacts, responded], ignore_index=True)
    return steps.sort_values(["ref", "at", "step"], ignore_index=True)


def _people_and_text(rng: np.random.Generator, ep: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """People, outcome, harm, barriers, information and descriptions (drawn as positions in
    small tables of labels, so ten million rows hold codes rather than strings)."""
    n = len(ep)
    n_people = max(50, n // 3)
    people = _nhs_numbers(rng, n_people)
    weights = 1.0 / np.arange(1, n_people + 1) ** 0.3
    who = rng.choice(n_people, size=n, p=weights / weights.sum())
    ep["nhs"] = text_series(people.take(pa.array(who)))
    ep["ethnicity"] = _labelled(rng.choice(len(ETHNICITIES), size=n_people, p=ETHNICITY_P)[who], ETHNICITIES)
    ep["age_band"] = _labelled(rng.integers(0, len(AGE_BANDS), size=n_people)[who], AGE_BANDS)
    ep["gender"] = _labelled(rng.choice(4, size=n_people, p=[0.52, 0.44, 0.02, 0.02])[who], GENDERS)
    # outcome and harm: late escalations more often become incidents with harm
    late = ep["late"].to_numpy()
    incident = rng.random(n) < np.where(late, 0.45, 0.2)
    ep["outcome"] = _labelled(incident, ["near_miss", "incident"])
    harm_late, harm_timely = np.cumsum([0.35, 0.35, 0.2, 0.08, 0.02]), np.cumsum([0.6, 0.3, 0.08, 0.02, 0.0])
    draw = rng.random(n)  # harm level: how many cumulative thresholds the draw exceeds
    harm_idx = np.where(late, np.searchsorted(harm_late, draw, "left"), np.searchsorted(harm_timely, draw, "left"))
    ep["harm"] = _labelled(np.where(incident, harm_idx.clip(0, 4), 0), list(LOCAL_HARM))
    # barriers: lone workers meet more, and 'No mobile signal' is almost only theirs
    lone = ep["lone"].to_numpy()
    has_barrier = rng.random(n) < np.where(lone, 0.55, 0.15) + np.where(late, 0.15, 0.0)
    lone_b = rng.integers(0, len(LONE_BARRIERS), size=n)
    other_b = rng.integers(0, len(OTHER_BARRIERS), size=n)
    first = np.where(lone & (rng.random(n) < 0.8), lone_b, len(LONE_BARRIERS) + other_b)
    second = np.where(rng.random(n) < 0.3, 1 + other_b, 0)
    firsts, seconds = LONE_BARRIERS + OTHER_BARRIERS, [""] + ["; " + b for b in OTHER_BARRIERS]
    labels = [f + t for f in firsts for t in seconds] + ["", "Awaiting manager approval"]
    barrier = np.where(has_barrier, first * len(seconds) + second, len(labels) - 2)
    lam = np.where(ep["team"] == APPROVALS_TEAM, 2.0, 0.4)
    ep["approvals"] = rng.poisson(lam)
    approvals_barrier = ep["approvals"].to_numpy() > 1
    barrier = np.where(approvals_barrier & (barrier == len(labels) - 2), len(labels) - 1, barrier)
    ep["barriers"] = pd.Series(_labels_by_code(barrier, labels), index=ep.index)
    shared = rng.random((n, len(INFORMATION_ITEMS))) < np.where(lone, 0.7, 0.88)[:, None]
    combination = (shared * (1 << np.arange(len(INFORMATION_ITEMS)))).sum(axis=1)
    del shared
    combinations = [
        "".join(LOCAL_INFORMATION[item] + "; " for i, item in enumerate(INFORMATION_ITEMS) if c >> i & 1).rstrip("; ")
        for c in range(1 << len(INFORMATION_ITEMS))
    ]
    ep["information"] = pd.Series(_labels_by_code(combination, combinations), index=ep.index)
    # who was contacted, from the step log; the response is the first recorded response
    ep["escalated_to"] = ""
    ep["responded_at"] = pd.Series(pd.NaT, index=ep.index, dtype=ep["risk_at"].dtype)
    if len(steps):
        contacted = steps[steps["step"] == "contacted"]
        ep["escalated_to"] = ep["ref"].map(_joined_agencies(contacted)).fillna("")
        first_response = steps[steps["step"] == "responded"].groupby("ref")["at"].min()
        ep["responded_at"] = ep["ref"].map(first_response)
    else:
        response = rng.lognormal(np.log(120), 0.7, size=n).round()
        ep["responded_at"] = (ep["escalated_at"] + pd.to_timedelta(response, unit="min")).where(ep["escalated"])
        ep["escalated_to"] = _labelled(ep["escalated"].to_numpy(), ["", "Crisis Team"])
    opening = rng.integers(0, len(DESCRIPTION_OPENINGS), size=n)
    person = rng.integers(0, 20, size=n)
    descriptions = [f"{o} Discussed with {p}'s carer." for o in DESCRIPTION_OPENINGS for p in FIRST_NAMES]
    description = opening * len(FIRST_NAMES) + person
    hostile = rng.choice(n, size=len(HOSTILE_DESCRIPTIONS) + 1, replace=False)
    description[hostile] = len(descriptions) + np.arange(len(hostile))
    descriptions += [*HOSTILE_DESCRIPTIONS, "Long narrative. " + "Risk reviewed and plan agreed. " * 200]
    ep["description"] = _labelled(description, descriptions)
    return ep


def _labels_by_code(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
    """Codes into a label table that may repeat a label (merged, so categories stay unique)."""
    distinct, position = np.unique(np.array(labels, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(position[codes].astype(np.int16), categories=list(distinct))


def _joined_agencies(contacted: pd.DataFrame) -> pd.Series:
    """'Duty Senior; Crisis Team' per episode, by pivoting contact positions (no per-row joins)."""
    position = contacted.groupby("ref", sort=False).cumcount()
    wide = contacted.assign(position=position, name=contacted["agency"].map(LOCAL_AGENCY)).pivot(
        index="ref", columns="position", values="name"
    )
    joined = wide[0].astype("str")
    for column in wide.columns[1:]:
        joined = joined + ("; " + wide[column].astype("str")).fillna("")
    return joined


def _nhs_numbers(rng: np.random.Generator, k: int) -> pa.Array:
    """Valid NHS numbers (modulus 11), from the 999 range used for test data."""
    body = rng.integers(0, 10, size=(k * 2, 9))
    body[:, :3] = [9, 9, 9]
    remainder = (body * np.arange(10, 1, -1)).sum(axis=1) % 11
    check = (11 - remainder) % 11
    ok = check != 10
    digits = np.concatenate([body[ok], check[ok, None]], axis=1)[:k]
    number = digits @ (10 ** np.arange(9, -1, -1, dtype=np.int64))
    text = pc.cast(pa.array(number), pa.large_string())
    parts = [pc.utf8_slice_codeunits(text, a, b) for a, b in ((0, 3), (3, 6), (6, 10))]
    return pc.binary_join_element_wise(*parts, pa.scalar(" ", pa.large_string()))


def _local_layout(ep: pd.DataFrame, staff: pd.DataFrame) -> pd.DataFrame:
    """Write the episodes the way a Datix-style export shows them: text, UK dates, Y/N.

    Dates and times are written once per distinct day or minute, and coded columns take
    their text from their labels: a ten-million-row export is assembled in seconds.
    """
    risk_local = ep["naive"]
    escalated_local = ep["escalated_at"].dt.tz_convert("Europe/London")
    responded_local = ep["responded_at"].dt.tz_convert("Europe/London")
    staff_names = pa.array(staff.sort_values("staff_id")["name"].to_numpy(dtype=object), pa.large_string())
    assert (staff["staff_id"].sort_values().to_numpy() == np.arange(len(staff))).all()
    export = pd.DataFrame(
        {
            "Ref": ep["ref"],
            "Incident Date": _written(risk_local, "%d/%m/%Y"),
            "Incident Time": _written(risk_local, "%H:%M"),
            "Escalation Date": _written(escalated_local, "%d/%m/%Y"),
            "Escalation Time": _written(escalated_local, "%H:%M"),
            "Crisis Response Date": _written(responded_local, "%d/%m/%Y"),
            "Crisis Response Time": _written(responded_local, "%H:%M"),
            "Team": as_text(ep["team"]),
            "Category": as_text(ep["trigger"].cat.rename_categories(LOCAL_TRIGGER)),
            "Result": as_text(ep["outcome"].cat.rename_categories({"near_miss": "Near Miss", "incident": "Incident"})),
            "Severity": as_text(ep["harm"].cat.rename_categories(LOCAL_HARM)),
            "Lone Worker": _text_from_codes(ep["lone"].to_numpy(), ["N", "Y"]),
            "Escalated To": as_text(ep["escalated_to"]),
            "Barriers": as_text(ep["barriers"]),
            "Information Shared": as_text(ep["information"]),
            "Approvals Sought": text_series(pc.cast(pa.array(ep["approvals"].to_numpy()), pa.large_string())),
            "Description": as_text(ep["description"]),
            "NHS Number": ep["nhs"],
            "Reported By": text_series(staff_names.take(pa.array(ep["staff_id"].to_numpy()))),
            "Ethnicity": as_text(ep["ethnicity"]),
            "Age Band": as_text(ep["age_band"]),
            "Gender": as_text(ep["gender"]),
        }
    )
    return export.astype("str")


def _written(timestamps: pd.Series, fmt: str) -> pd.Series:
    """``strftime(fmt)`` on the local wall clock ("" when missing), once per distinct value.

    ``fmt`` is a date (one text per day) or an hour and minute (one per minute of the day).
    """
    wall = timestamps.dt.tz_localize(None) if timestamps.dt.tz is not None else timestamps
    minutes = wall.to_numpy().astype("datetime64[m]").view(np.int64)
    key = minutes // 1440 if "%d" in fmt else minutes % 1440
    key = np.where(wall.isna().to_numpy(), -1, key)
    codes, distinct = pd.factorize(key)
    first = np.full(len(distinct), len(key), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(key)))
    labels = wall.iloc[first].dt.strftime(fmt).fillna("") if len(first) else pd.Series([], dtype="str")
    return _text_from_codes(codes, labels.tolist())


def _plant_defects(rng: np.random.Generator, export: pd.DataFrame, ep: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Damage a known number of distinct rows, one defect each, then add exact duplicates."""
    n = len(export)
    protected = set(range(len(CLOCK_FORWARD) + len(CLOCK_BACK)))  # planted clock-change rows
    protected |= set(np.flatnonzero(ep["team"].to_numpy() == SMALL_TEAM))
    escalated = ep["escalated"].to_numpy()
    responded = ep["responded_at"].notna().to_numpy()
    pool = rng.permutation(n)
    pool = pool[~np.isin(pool, np.array(sorted(protected)))]

    def take(k: int, where: np.ndarray | None = None) -> np.ndarray:
        nonlocal pool
        candidates = pool if where is None else pool[where[pool]]
        chosen = candidates[:k]
        pool = pool[~np.isin(pool, chosen)]
        return chosen

    rows = {}
    rows["missing_incident_id"] = take(4)
    export.loc[rows["missing_incident_id"], "Ref"] = ""
    rows["missing_risk_identified_at"] = take(5)
    export.loc[rows["missing_risk_identified_at"], ["Incident Date", "Incident Time"]] = ""
    rows["unparseable_risk_identified_at"] = take(6)
    export.loc[rows["unparseable_risk_identified_at"], "Incident Date"] = ["TBC", "31/02/2025", "??", "2025-13-45", "unknown", "32/01/2025"]
    rows["missing_trigger"] = take(3)
    export.loc[rows["missing_trigger"], "Category"] = ""
    rows["unparseable_escalated_at"] = take(4, escalated)
    export.loc[rows["unparseable_escalated_at"], "Escalation Time"] = ["see notes", "25:99", "late pm", "99:00"]
    rows["escalated_before_identified"] = take(7, escalated)
    before = ep.loc[rows["escalated_before_identified"], "naive"] - pd.Timedelta(hours=2)
    export.loc[rows["escalated_before_identified"], "Escalation Date"] = before.dt.strftime("%d/%m/%Y").to_numpy()
    export.loc[rows["escalated_before_identified"], "Escalation Time"] = before.dt.strftime("%H:%M").to_numpy()
    # warnings (rows kept)
    rows["missing_team"] = take(12)
    export.loc[rows["missing_team"], "Team"] = ""
    rows["unknown_trigger"] = take(6)
    export.loc[rows["unknown_trigger"], "Category"] = "Self-neglect"
    rows["unknown_agency"] = take(5, escalated)
    export.loc[rows["unknown_agency"], "Escalated To"] = export.loc[rows["unknown_agency"], "Escalated To"] + "; Street Triage"
    rows["responded_before_escalated"] = take(4, escalated & responded)
    early = ep.loc[rows["responded_before_escalated"], "escalated_at"].dt.tz_convert("Europe/London").dt.tz_localize(None) - pd.Timedelta(minutes=30)
    export.loc[rows["responded_before_escalated"], "Crisis Response Date"] = early.dt.strftime("%d/%m/%Y").to_numpy()
    export.loc[rows["responded_before_escalated"], "Crisis Response Time"] = early.dt.strftime("%H:%M").to_numpy()
    rows["invalid_nhs_number"] = take(9)
    bad = export.loc[rows["invalid_nhs_number"], "NHS Number"]
    last = bad.str[-1].astype(int)
    export.loc[rows["invalid_nhs_number"], "NHS Number"] = (bad.str[:-1] + ((last + 1) % 10).astype("str")).to_numpy()
    rows["clock_warnings"] = _clock_warnings(export, np.concatenate([rows[r] for r in EXPECTED_DEFECTS if r in rows]))
    # exact duplicates of clean rows, placed straight after their originals
    dup_source = take(EXPECTED_DEFECTS["duplicate_row"])
    order = np.concatenate([np.arange(n), np.sort(dup_source)])
    position = np.concatenate([np.arange(n) * 2.0, np.sort(dup_source) * 2.0 + 1])
    export = _rows_in_order(export, order[np.argsort(position, kind="stable")])
    rows["duplicate_row"] = dup_source
    return export, rows


def _rows_in_order(frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[order]`` for text columns, as zero-copy slices of consecutive runs.

    Inserting a few duplicate rows would otherwise copy every cell of a large export.
    """
    breaks = np.flatnonzero(np.diff(order) != 1) + 1
    runs = np.split(order, breaks)
    columns = {}
    for name in frame.columns:
        text = arrow_text(frame[name])
        pieces = [c for run in runs if len(run) for c in text.slice(int(run[0]), len(run)).chunks]
        columns[name] = text_series(pa.chunked_array(pieces, type=pa.large_string()))
    return pd.DataFrame(columns)


def _clock_warnings(export: pd.DataFrame, excluded: np.ndarray) -> dict[str, int]:
    """Count wall-clock times in the skipped or repeated hour, read from the export's text.

    Escalation and response times can land in the repeated October hour by chance, so the
    expected warning counts are taken from the written export (kept rows only).
    """
    kept = ~np.isin(np.arange(len(export)), excluded)
    forward = {"30/03/2025", "29/03/2026", "31/03/2024"}
    back = {"27/10/2024", "26/10/2025"}
    counts = {"nonexistent_local_time": 0, "ambiguous_local_time": 0}
    for date_col, time_col in (("Incident Date", "Incident Time"), ("Escalation Date", "Escalation Time"),
                               ("Crisis Response Date", "Crisis Response Time")):
        in_hour = export[time_col].str.startswith("01:").to_numpy()
        counts["nonexistent_local_time"] += int((export[date_col].isin(forward).to_numpy() & in_hour & kept).sum())
        counts["ambiguous_local_time"] += int((export[date_col].isin(back).to_numpy() & in_hour & kept).sum())
    return counts


def _actions(rng: np.random.Generator, ep: pd.DataFrame) -> pd.DataFrame:
    """Learning actions raised from a sample of late escalations and near misses."""
    late = ep[ep["late"]]
    k = min(len(late), max(20, len(ep) // 40))
    picked = late.iloc[np.sort(rng.choice(len(late), size=k, replace=False))]
    themes = np.array([
        "Refresh lone-working escalation briefing", "Add out-of-hours crisis line to safety plan template",
        "Review duty senior cover arrangements", "Clarify approvals needed before escalation",
        "Share learning at team meeting", "Scenario training for new starters",
    ])
    raised = picked["naive"].dt.normalize() + pd.to_timedelta(rng.integers(3, 30, size=k), unit="D")
    due = raised + pd.to_timedelta(rng.integers(14, 120, size=k), unit="D")
    completed = rng.random(k) < 0.7
    return pd.DataFrame(
        {
            "Action": themes[rng.integers(0, len(themes), size=k)],
            "Owner": "Team manager, " + picked["team"].astype("str").to_numpy(),
            "Raised": raised.dt.strftime("%d/%m/%Y").to_numpy(),
            "Due": due.dt.strftime("%d/%m/%Y").to_numpy(),
            "Status": np.where(completed, "Completed", "Open"),
            "Linked Incident": picked["ref"].to_numpy(),
        }
    )


def _truth(ep: pd.DataFrame, export: pd.DataFrame, rows: dict, seed: int) -> dict:
    """The known answers: planted effects and the exact row accounting."""
    excluded = dict(EXPECTED_DEFECTS)
    warnings = {**EXPECTED_WARNINGS, **rows["clock_warnings"]}
    return {
        "seed": seed,
        "rows_read": len(export),
        "rows_excluded": int(sum(excluded.values())),
        "rows_analysed": int(len(export) - sum(excluded.values())),
        "excluded_by_reason": excluded,
        "warnings": warnings,
        "ooh_delay_factor": OOH_DELAY_FACTOR,
        "lone_delay_factor": LONE_DELAY_FACTOR,
        "trained_delay_factor": TRAINED_DELAY_FACTOR,
        "deteriorating_team": DETERIORATING_TEAM,
        "deterioration_quarter": DETERIORATION_QUARTER_LABEL,
        "deterioration_factor": DETERIORATION_FACTOR,
        "small_team": SMALL_TEAM,
        "small_team_episodes": SMALL_TEAM_EPISODES,
        "approvals_team": APPROVALS_TEAM,
        "out_of_hours_team": OUT_OF_HOURS_TEAM,
        "out_of_hours_team_share_out_of_hours": round(
            float((ep.loc[ep["team"] == OUT_OF_HOURS_TEAM, "band"] == "out_of_hours").mean()), 3
        ),
        "lone_only_barrier": "No mobile signal",
        "period": {"start": SAMPLE_START, "end": SAMPLE_END},
        "triggers": list(TRIGGERS),
    }


def write_sample(out_dir: str | Path, rows: int = 5000, seed: int = 2025, *, xlsx: bool = True, logs: bool = True) -> Sample:
    """Generate a sample and write it with its mapping profile, pathway and logs.

    Files: ``incidents.csv`` (UTF-8 with BOM, as Excel saves "CSV UTF-8"), ``incidents.xlsx``
    (real date and time cells), ``mapping.yaml``, ``pathway.yaml``, ``steps.csv``,
    ``learning_actions.csv``, ``training.csv`` and ``truth.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = make_sample(rows, seed, logs=logs)
    _write_csv(sample.export, out / "incidents.csv")
    if xlsx and rows <= 1_048_575:
        _write_xlsx(sample.export, out / "incidents.xlsx")
    (out / "mapping.yaml").write_text(MAPPING_TEXT, encoding="utf-8")
    (out / "pathway.yaml").write_text(example_pathway_text(), encoding="utf-8")
    if logs:
        steps = sample.steps.assign(
            at=sample.steps["at"].dt.tz_convert("Europe/London").dt.strftime("%d/%m/%Y %H:%M"),
            agency=sample.steps["agency"].map(LOCAL_AGENCY),
        ).rename(columns={"ref": "Ref", "step": "Step", "at": "At", "agency": "Agency"})[["Ref", "Step", "Agency", "At"]]
        steps.to_csv(out / "steps.csv", index=False, lineterminator="\r\n")
        sample.actions.to_csv(out / "learning_actions.csv", index=False, lineterminator="\r\n")
        sample.training.to_csv(out / "training.csv", index=False, lineterminator="\r\n")
    (out / "truth.json").write_text(json.dumps(sample.truth, indent=2) + "\n", encoding="utf-8")
    return sample


def _write_csv(frame: pd.DataFrame, path: Path, rows_per_block: int = 100_000) -> None:
    """What ``to_csv(index=False, encoding="utf-8-sig", lineterminator="\\r\\n")`` writes, a
    block of rows at a time in Arrow (:func:`~escalation_analysis.csv_writer.write_csv`): ten
    million rows take seconds, not minutes."""
    write_csv(frame, path, encoding="utf-8-sig", lineterminator="\r\n", rows_per_block=rows_per_block)


def _write_xlsx(export: pd.DataFrame, path: Path) -> None:
    """Excel version with real date and time cells where the text is a valid date or time."""
    frame = export.copy()
    for date_col, time_col in (("Incident Date", "Incident Time"), ("Escalation Date", "Escalation Time"),
                               ("Crisis Response Date", "Crisis Response Time")):
        dates = pd.to_datetime(frame[date_col], format="%d/%m/%Y", errors="coerce")
        times = pd.to_datetime(frame[time_col], format="%H:%M", errors="coerce")
        frame[date_col] = pd.Series(dates.dt.date.to_numpy(dtype=object), dtype=object).where(dates.notna(), frame[date_col].replace("", None))
        frame[time_col] = pd.Series(times.dt.time.to_numpy(dtype=object), dtype=object).where(times.notna(), frame[time_col].replace("", None))
    frame = frame.astype(object).where(frame.astype("str") != "", None)
    with pd.ExcelWriter(path, engine="openpyxl", date_format="DD/MM/YYYY") as writer:
        frame.to_excel(writer, index=False, sheet_name="Incidents")
        for cells in writer.sheets["Incidents"].iter_rows(min_row=2):
            for cell in cells:
                if cell.data_type == "f":  # text such as "=HYPERLINK(...)" stays text, not a formula
                    cell.data_type = "s"
