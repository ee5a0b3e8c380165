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
# # Crisis escalation: contract-monitoring report
#
# **For:** commissioners. **Audience:** external. This report contains no identifiers and no free
# text; counts from 1 to 7 are shown as \*, and figures that would let a hidden count be worked
# out are hidden too.
#
# It reports how quickly the provider's community mental health staff escalated crisis risk
# along the agreed pathway, against the pathway file's targets and the previous period, with
# trends read the NHS "Making Data Count" way.

# %% tags=["parameters"]
export = "../data/sample/incidents.csv"  # incident export (CSV or XLSX)
mapping = "../data/sample/mapping.yaml"  # mapping profile for the export's layout
pathway = "../data/sample/pathway.yaml"  # the local crisis escalation pathway
steps = "../data/sample/steps.csv"  # optional step log ("" if none)
actions = "../data/sample/learning_actions.csv"  # optional learning-actions log ("" if none)
training = "../data/sample/training.csv"  # optional training log ("" if none)
start = "2025-10-01"  # first day of the reporting period
end = "2025-12-31"  # last day of the reporting period

# %%
from escalation_analysis.reviews import charts, definitions, display, kpis, labels, narrative
from escalation_analysis.measures import trends
from escalation_analysis.measures.analysis import analyse
from escalation_analysis.reviews.summary import build_summary

display.setup()
analysis = analyse(export, mapping, pathway, start, end,
                   steps=steps or None, actions=actions or None, training=training or None)
compliance_target_pct = analysis.pathway.kpi_targets.value("compliance_pct")  # from the pathway file
summary = build_summary(analysis, report="contract-monitoring", audience="external")
tables = summary.tables

# %% [markdown]
# ## Summary

# %%
display.show_markdown(narrative.headline(analysis, external=True))

# %% [markdown]
# ## Key performance indicators
#
# This period against the previous period of the same length and the targets in the pathway
# file, each with where it comes from.

# %%
display.show_table(kpis.for_display(kpis.kpi_table(analysis, policy=kpis.EXTERNAL_POLICY)),
                   caption="Key performance indicators")

# %% [markdown]
# ## Trends (statistical process control)
#
# Monthly figures from the start of the data to the end of this period. Orange points are
# special cause of concern, blue special cause of improvement, grey common cause (normal
# variation). The badges give the Making Data Count variation and assurance icons in words.

# %%
display.show(charts.spc_chart(trends.compliance_p_chart(analysis.history, target_pct=compliance_target_pct),
                              title="Escalations within target, by month", y_title="Within target (%)",
                              target=compliance_target_pct, percent=True))
display.show(charts.spc_chart(trends.median_delay_xmr(analysis.history),
                              title="Median delay to escalate, by month", y_title="Minutes"))

# %% [markdown]
# ## Out-of-hours audit
#
# Out of hours is everything outside the pathway's in-hours window, split into weekday evenings
# and nights, weekends, and bank holidays (substitute days included).

# %%
display.show(charts.compliance_by_group(tables["timeliness_by_ooh_sub_band"], "ooh_sub_band",
                                        title="Escalated within target, in and out of hours",
                                        target_pct=compliance_target_pct))
display.show_table(labels.timeliness_for_readers(tables["timeliness_by_ooh_sub_band"], "ooh_sub_band"),
                   caption="In and out of hours")

# %% [markdown]
# ## By team

# %%
display.show(charts.compliance_by_group(tables["timeliness_by_team"], "team",
                                        title="Escalated within target, by team", target_pct=compliance_target_pct))
display.show_table(labels.timeliness_for_readers(tables["timeliness_by_team"], "team"), caption="Timeliness by team")

# %% [markdown]
# ## Multi-agency response
#
# How quickly each receiving service responded after it was contacted, against the pathway's
# response targets.

# %%
display.show_table(tables["agency_response"], caption="Response by receiving agency")
display.show_table(tables["handoffs"], caption="Hand-offs between agencies (minutes)")

# %% [markdown]
# ## Learning from near misses

# %%
display.show_markdown(narrative.learning_actions(analysis, external=True))

# %% [markdown]
# ## Equity
#
# Timeliness by ethnicity, age band and gender, as the Patient and Carer Race Equality Framework
# asks. Small groups are hidden; differences between small groups should not be over-read.

# %%
display.show_table(labels.equity_for_readers(summary, "ethnicity"), caption="By ethnicity")
display.show_table(labels.equity_for_readers(summary, "age_band"), caption="By age band")
display.show_table(labels.equity_for_readers(summary, "gender"), caption="By gender")

# %% [markdown]
# ## Data quality

# %%
display.show_markdown(narrative.data_quality(analysis, external=True))
display.show_table(narrative.data_quality_table(analysis, external=True), caption="Rows excluded and warnings")

# %% [markdown]
# ## Appendix: definitions and methods
#
# Compliance intervals are Wilson 95% intervals. SPC charts follow NHS England's Making Data
# Count rules as implemented by NHSRplotthedots (XmR) and qicharts2 (p-charts). Suppression follows
# NHS England's rule for sub-national figures (1 to 7 hidden) with secondary suppression.

# %%
display.show_table(definitions.register_table(list(definitions.CONTRACT_MONITORING)), caption="Definitions")
