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
# # Crisis escalation pathway review
#
# **For:** the pathway owner with partners (local authority safeguarding, crisis services,
# police). **Audience:** partners — no identifiers and no free text; counts from 1 to 7 are
# shown as \*.
#
# Is the pathway followed as written, and where does it slow people down? The step log records
# each contact in order and each service's response.

# %% tags=["parameters"]
export = "../data/sample/incidents.csv"  # incident export (CSV or XLSX)
mapping = "../data/sample/mapping.yaml"  # mapping profile for the export's layout
pathway = "../data/sample/pathway.yaml"  # the local crisis escalation pathway
steps = "../data/sample/steps.csv"  # step log (needed for this review)
actions = "../data/sample/learning_actions.csv"  # optional learning-actions log ("" if none)
training = "../data/sample/training.csv"  # optional training log ("" if none)
start = "2025-04-01"  # first day of the review period
end = "2026-03-31"  # last day of the review period

# %%
from escalation_analysis.reviews import charts, display, labels, narrative, pathway as pathway_review
from escalation_analysis.measures.analysis import analyse

display.setup()
analysis = analyse(export, mapping, pathway, start, end,
                   steps=steps or None, actions=actions or None, training=training or None)
review = pathway_review.PathwayReview.build(analysis)

# %% [markdown]
# ## Summary

# %%
display.show_markdown(narrative.headline(analysis, external=True))

# %% [markdown]
# ## Are the steps followed?
#
# For each episode with a step log: was the first contact the one the pathway expects for the
# trigger and time of day, were the expected steps taken in order, was any skipped, were more
# approvals sought than allowed, and was the required information shared?

# %%
display.show(charts.bar_counts(review.adherence, x="check", y="passed_pct", labels=labels.VALUES,
                               title="Episodes passing each pathway check", value_title="Passed (%)", percent=True))
display.show_table(review.adherence, caption="Pathway checks", percent=["passed_pct", "ci95_low_pct", "ci95_high_pct"])
display.show_table(review.routes, caption="Most common routes taken")

# %% [markdown]
# ## Approvals before action
#
# The pathway allows at most the number of sign-offs shown below before acting. Teams where
# approvals exceed it more often may have a local practice the pathway should address.

# %%
display.markdown("Most approvals allowed before action: **{limit}**.", limit=analysis.pathway.max_approvals_before_action)
display.show_table(review.approvals_by_team, caption="Approvals within the limit, by team", percent=["passed_pct"])

# %% [markdown]
# ## Agency response and hand-offs

# %%
display.show(charts.bar_counts(review.agency_response, x="agency", y="median_minutes", labels=labels.VALUES,
                               target="target_minutes", minutes=True,
                               title="Median response time by agency", value_title="Median response (minutes)"))
display.show_table(review.agency_response, caption="Response by receiving agency")
display.show_table(review.handoffs, caption="Hand-offs between contacts (minutes)")

# %% [markdown]
# ## What the data suggests changing
#
# Themes from the barriers staff recorded, with the question each raises for the pathway.

# %%
display.show_table(review.themes, caption="Themes and questions for the pathway", percent=["late_pct"])

# %% [markdown]
# ## Data quality

# %%
display.show_markdown(narrative.data_quality(analysis, external=True))
