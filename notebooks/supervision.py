# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Supervision preparation pack
#
# **For:** team managers and clinical supervisors. **Audience:** internal and restricted — it
# lists episodes with pseudonymised identifiers. Use it to prepare reflective supervision, not
# as a performance measure on its own: numbers for one person are small and vary by chance.

# %% tags=["parameters"]
export = "../data/sample/incidents.csv"  # incident export (CSV or XLSX)
mapping = "../data/sample/mapping.yaml"  # mapping profile for the export's layout
pathway = "../data/sample/pathway.yaml"  # the local crisis escalation pathway
steps = "../data/sample/steps.csv"  # optional step log ("" if none)
actions = "../data/sample/learning_actions.csv"  # optional learning-actions log ("" if none)
training = "../data/sample/training.csv"  # optional training log ("" if none)
start = "2025-10-01"  # first day of the period
end = "2025-12-31"  # last day of the period
team = "Riverside CMHT"  # the team ("" for all teams)
staff_pseudonym = ""  # one practitioner's pseudonym (the runner makes it from --staff NAME)

# %%
from escalation_analysis.reviews import charts, display, labels, narrative, supervision
from escalation_analysis.measures import near_misses as near_miss
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.timeliness import compliance_table

display.setup()
analysis = analyse(export, mapping, pathway, start, end,
                   steps=steps or None, actions=actions or None, training=training or None)
selected = supervision.select(analysis.episodes, team=team, staff_pseudonym=staff_pseudonym)

# %% [markdown]
# ## Whose escalations

# %%
display.markdown("This pack covers **{who}**, {period}: {n} escalation episodes.",
                 who=supervision.subject(team, staff_pseudonym),
                 period=narrative.period_text(analysis.start, analysis.end), n=len(selected))

# %% [markdown]
# ## Timeliness against the team and the service

# %%
display.show_table(labels.timeliness_for_readers(
    supervision.compared_with_team(analysis.episodes, selected, team, staff_pseudonym), "group"),
    caption="Escalated within target")
display.show(charts.compliance_by_group(compliance_table(selected, "trigger"), "trigger",
                                        title="Within target, by trigger"))

# %% [markdown]
# ## Episodes to discuss
#
# Late or missed escalations first, then the newest. References are the incident system's own,
# so the supervisor can open the record.

# %%
display.show_table(supervision.episode_list(selected), caption="Episodes in the period", max_rows=25)

# %% [markdown]
# ## Near misses and barriers met

# %%
display.show_table(near_miss.near_miss_table(selected, "trigger"), caption="Near misses by trigger")
display.show_table(near_miss.barrier_frequency(selected).head(10), caption="Barriers met")

# %% [markdown]
# ## The pathway's contacts

# %%
display.markdown("Pathway: **{name}**. The most approvals allowed before acting: {limit}.",
                 name=analysis.pathway.name, limit=analysis.pathway.max_approvals_before_action)
display.show_table(supervision.contacts_table(analysis.pathway), caption="Who to contact")

# %% [markdown]
# ## Prompts for reflective discussion
#
# Chosen from what these episodes show. They are starting points for a conversation, not a
# checklist.

# %%
display.show_markdown(supervision.prompts_markdown(selected, analysis.pathway))
