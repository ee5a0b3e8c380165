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
# # Near-miss learning review
#
# **For:** quality and patient-safety leads. **Audience:** internal only — this review contains
# pseudonymised identifiers and free-text descriptions. Do not send it outside the organisation.
#
# A thematic review (in the spirit of PSIRF) of crisis escalations: where and when escalation was
# late or missed, which barriers recur, and what the pathway owner should look at.

# %% tags=["parameters"]
export = "../data/sample/incidents.csv"  # incident export (CSV or XLSX)
mapping = "../data/sample/mapping.yaml"  # mapping profile for the export's layout
pathway = "../data/sample/pathway.yaml"  # the local crisis escalation pathway
steps = "../data/sample/steps.csv"  # optional step log ("" if none)
actions = "../data/sample/learning_actions.csv"  # optional learning-actions log ("" if none)
training = "../data/sample/training.csv"  # optional training log ("" if none)
start = "2025-10-01"  # first day of the review period
end = "2025-12-31"  # last day of the review period

# %%
from escalation_analysis.reviews import charts, display, narrative
from escalation_analysis.measures import comparisons, learning, near_misses as near_miss, trends
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.measures.timeliness import compliance_table

display.setup()
analysis = analyse(export, mapping, pathway, start, end,
                   steps=steps or None, actions=actions or None, training=training or None)
episodes = analysis.episodes

# %% [markdown]
# ## Headline

# %%
display.show_markdown(narrative.headline(analysis))
display.show_markdown(narrative.change_since_previous(analysis))

# %% [markdown]
# ## Late and missed escalations
#
# "Late" means not within the pathway's target for the trigger and band, including episodes with
# no escalation recorded. Bars show the share escalated within target, with 95% confidence
# intervals: wide intervals mean few episodes.

# %%
display.show(charts.compliance_by_group(compliance_table(episodes, "team"), "team", title="Escalated within target, by team"))
display.show(charts.compliance_by_group(compliance_table(episodes, "ooh_sub_band"), "ooh_sub_band", title="Escalated within target, in and out of hours"))
display.show(charts.compliance_by_group(compliance_table(episodes, "lone_worker"), "lone_worker", title="Escalated within target, lone workers and accompanied staff"))

# %% [markdown]
# Is the difference real? Out of hours against in hours, and lone workers against accompanied staff:

# %%
display.show_markdown(narrative.comparisons(analysis))

# %%
display.show(charts.delay_distribution(episodes, by="band"))
display.show(charts.km_curves(comparisons.escalation_curves(episodes, "band", analysis.as_of)))

# %% [markdown]
# ## Teams compared fairly
#
# A funnel plot allows for team size: teams outside the 99.8% limits differ by more than chance
# would explain. The monthly chart shows whether the lowest team's timeliness changed suddenly.

# %%
display.show(charts.funnel_plot(trends.team_funnel(episodes), title="Teams' share escalated within target"))
lowest = trends.lowest_team(episodes)
display.show(charts.spc_chart(trends.compliance_p_chart(analysis.history, team=lowest),
                              title=f"Escalated within target by month: {lowest}",
                              y_title="Within target (%)", percent=True))

# %% [markdown]
# ## When late escalations happen
#
# Each square is an hour of the week when risk was identified; darker means a larger share of
# escalations were late. Empty squares had no episodes.

# %%
display.show(charts.late_heatmap(near_miss.late_heatmap(episodes, analysis.pathway.timezone)))

# %% [markdown]
# ## Near misses

# %%
display.show_table(near_miss.near_miss_table(episodes, "team"), caption="Near misses and late escalations by team")
display.show(charts.trend_line(near_miss.near_miss_ratio(analysis.all_episodes, "quarter"), x="quarter", y="ratio",
                               title="Near misses reported per incident, by quarter", y_title="Near misses per incident"))

# %% [markdown]
# ## Barriers to escalation
#
# What staff recorded as delaying or blocking escalation. A barrier met mostly by lone workers
# points at lone-working arrangements rather than individual practice.

# %%
display.show(charts.bar_counts(near_miss.barrier_frequency(episodes).head(10), x="barrier", y="episodes",
                               title="Most frequent barriers", value_title="Episodes"))
display.show_table(near_miss.barrier_frequency(episodes, "lone_worker").head(12), caption="Barriers by lone working")
display.show(charts.barrier_cooccurrence(near_miss.barrier_cooccurrence(episodes)))

# %% [markdown]
# ## Service users with repeated episodes
#
# Pseudonymised: look the person up through the organisation's own re-identification process only
# if a case review needs it.

# %%
display.show_table(near_miss.repeat_service_users(episodes, min_episodes=3).head(15), caption="Three or more episodes in the period")

# %% [markdown]
# ## Cases to review
#
# The late escalations most worth a case review: no escalation recorded first, then by harm, then
# by how far past the target. Descriptions are shown as recorded (escaped, never run).

# %%
display.show_table(near_miss.cases_to_review(episodes, limit=12), caption="Cases to review")

# %% [markdown]
# ## Questions for the pathway owner
#
# Barrier themes that suggest the pathway itself may need refining, with the share of those
# episodes that were late.

# %%
display.show_table(near_miss.pathway_themes(episodes)[["theme", "episodes", "late_pct", "question"]],
                   caption="Themes and questions", percent=["late_pct"])

# %% [markdown]
# ## Learning actions

# %%
display.show_markdown(narrative.learning_actions(analysis))
display.show_table(learning.overdue_actions(analysis.actions_frame, episodes, analysis.as_of),
                   caption="Overdue learning actions, most overdue first")

# %% [markdown]
# ## Data quality

# %%
display.show_markdown(narrative.data_quality(analysis))
display.show_table(narrative.data_quality_table(analysis), caption="Rows excluded and warnings")
