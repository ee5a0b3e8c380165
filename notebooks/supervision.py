# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
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
inputs = "../data/sample"  # a folder laid out like the sample, or {"export": path, "mapping": ..., "pathway": ..., optional "steps", "actions", "training"}
start = "2025-10-01"  # first day of the period
end = "2025-12-31"  # last day of the period
audience = ""  # set by the report runner from the report kind (blank: the kind sets it)
team = "Riverside CMHT"  # the team ("" for all teams)
staff_pseudonym = ""  # one practitioner's pseudonym (the runner makes it from --staff NAME)
staff_name = ""  # the name the supervisor gave with --staff (shown beside the pseudonym)

# %%
from escalation_analysis import reviews

# %%
review = reviews.open("supervision", inputs, start, end, audience=audience, team=team, staff_pseudonym=staff_pseudonym, staff_name=staff_name)

# %%
review.show("front_sheet")

# %% [markdown]
# ## Whose escalations

# %%
review.show("who")

# %% [markdown]
# ## Timeliness against the team and the service

# %%
review.show("timeliness")

# %% [markdown]
# ## Episodes to discuss
#
# The late or missed escalations, newest first (up to twelve; the appendix lists every episode).
# References are the incident system's own, so the supervisor can open the record.

# %%
review.show("episodes")

# %% [markdown]
# ## Near misses and barriers met

# %%
review.show("near_misses")

# %% [markdown]
# ## The pathway's contacts

# %%
review.show("contacts")

# %% [markdown]
# ## Escalation training
# Scenario-based escalation training in the year before the end of the period, from the
# training log.

# %%
review.show("training")

# %% [markdown]
# ## Prompts for reflective discussion
#
# Chosen from what these episodes show. They are starting points for a conversation, not a
# checklist.

# %%
review.show("prompts")

# %% [markdown]
# ## Appendix: every episode in the period
# Late or missed first, then the newest. References are the incident system's own.

# %%
review.show("appendix")
