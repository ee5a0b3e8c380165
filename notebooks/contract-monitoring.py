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
# # Crisis escalation: contract-monitoring report
#
# **For:** commissioners. **Audience:** external. This report contains no identifiers and no free
# text; counts from 1 to 7 are shown as \*, and [c] marks a figure withheld so that a small count
# cannot be worked out (the key below says how the other counts are shown).
#
# It reports how quickly the provider's community mental health staff escalated crisis risk
# along the agreed pathway, against the pathway file's targets and the previous period, with
# trends read the NHS "Making Data Count" way.

# %% tags=["parameters"]
inputs = "../data/sample"  # a folder laid out like the sample, or {"export": path, "mapping": ..., "pathway": ..., optional "steps", "actions", "training"}
start = "2025-10-01"  # first day of the reporting period
end = "2025-12-31"  # last day of the reporting period
audience = ""  # set by the report runner from the report kind (blank: the kind sets it)
disclosure = ""  # small-number policy: "nhs-rounded" (blank: the default) or "exact-secondary"
alongside = []  # set by the runner: outside reports published with this one, before it, as "kind start end"

# %%
from escalation_analysis import reviews

# %%
review = reviews.open("contract-monitoring", inputs, start, end, audience=audience, disclosure=disclosure, alongside=alongside)

# %%
review.show("front_sheet")

# %% [markdown]
# ## Summary

# %%
review.show("headline")

# %% [markdown]
# ## Key performance indicators
#
# This period against the previous period of the same length and the targets in the pathway
# file, each with where it comes from.

# %%
review.show("kpis")

# %% [markdown]
# ## Trends (statistical process control)
#
# Monthly figures from the start of the data to the end of this period. Orange points are
# special cause of concern, blue special cause of improvement, grey common cause (normal
# variation). The badges give the Making Data Count variation and assurance icons in words.

# %%
review.show("trends")

# %% [markdown]
# ## Out-of-hours audit
#
# Out of hours is everything outside the pathway's in-hours window, split into weekday evenings
# and nights, weekends, and bank holidays (substitute days included).

# %%
review.show("out_of_hours")

# %% [markdown]
# ## By team

# %%
review.show("teams")

# %% [markdown]
# ## Multi-agency response
#
# How quickly each receiving service responded after it was contacted, against the pathway's
# response targets.

# %%
review.show("multi_agency")

# %% [markdown]
# ## Learning from near misses

# %%
review.show("learning")

# %% [markdown]
# ## Equity
#
# Timeliness by ethnicity, age band and gender, as the Patient and Carer Race Equality Framework
# asks. Small groups are hidden; differences between small groups should not be over-read.

# %%
review.show("equity")

# %% [markdown]
# ## Data quality

# %%
review.show("data_quality")

# %% [markdown]
# ## Appendix: definitions and methods
#
# Compliance intervals are Wilson 95% intervals. SPC charts follow NHS England's Making Data
# Count rules as implemented by NHSRplotthedots (XmR) and qicharts2 (p-charts), from the monthly
# counts as published (rounded, unless the key says otherwise); a month whose count is withheld is
# not drawn as a point.

# %%
review.show("definitions")
