"""Statistical disclosure control for external and partner outputs.

* :mod:`.policy`: the policies as data (NHS Digital's rounding method, the default; exact
  counts with secondary suppression) and which audience gets which;
* :mod:`.cells`: what a published count is a count of, and how counts add up;
* :mod:`.engine`: one policy applied to one table;
* :mod:`.plan`: one plan per export and period, shared by every external output;
* :mod:`.audit`: what an attacker can derive from everything a run publishes, by linear
  programming, and the verdict that withholds a report.
"""

from .audit import AuditResult, DisclosureError
from .engine import ControlledTable
from .plan import DisclosurePlan, adopt_plan, audit_plans, audit_run, plan_for, write_audit
from .policy import EXACT_SECONDARY, NHS_ROUNDED, POLICIES, DisclosurePolicy, policy_for

__all__ = [
    "EXACT_SECONDARY", "NHS_ROUNDED", "POLICIES", "AuditResult", "ControlledTable", "DisclosureError",
    "DisclosurePlan", "DisclosurePolicy", "adopt_plan", "audit_plans", "audit_run", "plan_for", "policy_for", "write_audit",
]
