# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Crisis escalation pathway review
#
# **For:** the pathway owner with partners (local authority safeguarding, crisis services,
# police). **Audience:** partners — no identifiers and no free text; counts from 1 to 7 are
# shown as \*, and [c] marks a figure withheld so that a small count cannot be worked out (the
# key below says how the other counts are shown).
#
# Is the pathway followed as written, and where does it slow people down? The step log records
# each contact in order and each service's response.

# %% tags=["parameters"]
inputs = "../data/sample"  # a folder laid out like the sample, or {"export": path, "mapping": ..., "pathway": ..., optional "steps", "actions", "training"}
start = "2025-04-01"  # first day of the review period
end = "2026-03-31"  # last day of the review period
audience = ""  # set by the report runner from the report kind (blank: the kind sets it)
disclosure = ""  # small-number policy: "nhs-rounded" (blank: the default) or "exact-secondary"
alongside = []  # set by the runner: outside reports published with this one, before it, as "kind start end"

# %%
from escalation_analysis import reviews

# %%
review = reviews.open("pathway-review", inputs, start, end, audience=audience, disclosure=disclosure, alongside=alongside)

# %%
review.show("front_sheet")

# %% [markdown]
# ## Summary

# %%
review.show("headline")

# %% [markdown]
# ## Are the steps followed?
#
# For each episode with a step log: was the first contact the one the pathway expects for the
# trigger and time of day, were the expected steps taken in order, was any skipped, were more
# approvals sought than allowed, and was the required information shared?

# %%
review.show("steps")

# %% [markdown]
# ## Approvals before action
#
# The pathway allows at most the number of sign-offs shown below before acting. Teams where
# approvals exceed it more often may have a local practice the pathway should address.

# %%
review.show("approvals")

# %% [markdown]
# ## Agency response and hand-offs

# %%
review.show("agencies")

# %% [markdown]
# ## What the data suggests changing
#
# Themes from the barriers staff recorded, with the question each raises for the pathway.

# %%
review.show("themes")

# %% [markdown]
# ## Data quality

# %%
review.show("data_quality")
