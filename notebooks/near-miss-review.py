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
# # Near-miss learning review
#
# **For:** quality and patient-safety leads. **Audience:** internal only — this review contains
# pseudonymised identifiers and free-text descriptions. Do not send it outside the organisation.
#
# A thematic review (in the spirit of PSIRF) of crisis escalations: where and when escalation was
# late or missed, which barriers recur, and what the pathway owner should look at.

# %% tags=["parameters"]
inputs = "../data/sample"  # a folder laid out like the sample, or {"export": path, "mapping": ..., "pathway": ..., optional "steps", "actions", "training"}
start = "2025-10-01"  # first day of the review period
end = "2025-12-31"  # last day of the review period
audience = ""  # set by the report runner from the report kind (blank: the kind sets it)

# %%
from escalation_analysis import reviews

# %%
review = reviews.open("near-miss-review", inputs, start, end, audience=audience)

# %%
review.show("front_sheet")

# %% [markdown]
# ## Headline

# %%
review.show("headline")

# %% [markdown]
# ## Late and missed escalations
#
# "Late" means not within the pathway's target for the trigger and band, including episodes with
# no escalation recorded. Bars show the share escalated within target, with 95% confidence
# intervals: wide intervals mean few episodes.

# %%
review.show("late_and_missed")

# %% [markdown]
# Is the difference real? Out of hours against in hours, and lone workers against accompanied staff:

# %%
review.show("comparisons")

# %%
review.show("delays")

# %% [markdown]
# ## Teams compared fairly
#
# A funnel plot allows for team size: teams outside the 99.8% limits differ by more than chance
# would explain. The monthly chart shows whether the lowest team's timeliness changed suddenly.

# %%
review.show("teams")

# %% [markdown]
# ## When late escalations happen
#
# Each square is an hour of the week when risk was identified; darker means a larger share of
# escalations were late. Empty squares had no episodes.

# %%
review.show("heatmap")

# %% [markdown]
# ## Near misses

# %%
review.show("near_misses")

# %% [markdown]
# ## Barriers to escalation
#
# What staff recorded as delaying or blocking escalation. A barrier met mostly by lone workers
# points at lone-working arrangements rather than individual practice.

# %%
review.show("barriers")

# %% [markdown]
# ## Service users with repeated episodes
#
# Pseudonymised: look the person up through the organisation's own re-identification process only
# if a case review needs it.

# %%
review.show("repeat_users")

# %% [markdown]
# ## Cases to review
#
# The late escalations most worth a case review: no escalation recorded first, then by harm, then
# by how far past the target. Descriptions are shown as recorded (escaped, never run).

# %%
review.show("cases")

# %% [markdown]
# ## Questions for the pathway owner
#
# Barrier themes that suggest the pathway itself may need refining, with the share of those
# episodes that were late.

# %%
review.show("pathway_questions")

# %% [markdown]
# ## Learning actions

# %%
review.show("learning_actions")

# %% [markdown]
# ## Data quality

# %%
review.show("data_quality")
