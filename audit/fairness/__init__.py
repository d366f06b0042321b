"""Fairness statistics: group rates, comparisons, intervals, tests and calibration.

Every function takes ``(y_true, y_pred, *, sensitive, ...)`` (calibration:
``(y_true, y_score, *, sensitive, ...)``) and returns a DataFrame. Definitions
follow docs/statistics.md; all rates come from per-group cell
counts, so bootstrap intervals cost O(B x groups x cells), not O(B x rows).

Domain probes: :mod:`~deepaudit.audit.fairness.reasons` (adverse-action reasons),
:mod:`~deepaudit.audit.fairness.proxy` (proxy table), :mod:`~deepaudit.audit.fairness.mitigation`
(threshold what-if), :mod:`~deepaudit.audit.fairness.counterfactual` (text
substitutions). :mod:`~deepaudit.audit.fairness.policy` reads the TOML policy and
:mod:`~deepaudit.audit.fairness.section` assembles a run's fairness section.

Example
-------
>>> from deepaudit.audit.fairness import group_metrics, disparities
>>> y, yhat, race = [1, 0, 1, 1, 0, 1], [1, 0, 1, 0, 0, 1], ["a", "a", "a", "b", "b", None]
>>> group_metrics(y, yhat, sensitive=race)[["group", "n", "selection_rate"]].values.tolist()
[['a', 3, 0.6666666666666666], ['b', 2, 0.0], ['unknown', 1, 1.0]]
"""
from deepaudit.audit.fairness.calibration import calibration_curves, calibration_error
from deepaudit.audit.fairness.comparisons import disparities
from deepaudit.audit.fairness.counterfactual import counterfactual_checks, counterfactual_probe
from deepaudit.audit.fairness.counts import binary_outcomes, group_counts
from deepaudit.audit.fairness.groups import UNKNOWN, GroupCodes, encode_groups, resolve_reference
from deepaudit.audit.fairness.intervals import (
    bootstrap_counts,
    log_ratio_interval,
    percentile_interval,
    wilson_interval,
)
from deepaudit.audit.fairness.metrics import group_metrics
from deepaudit.audit.fairness.mitigation import threshold_what_if
from deepaudit.audit.fairness.policy import Policy, load_policy
from deepaudit.audit.fairness.proxy import proxy_table
from deepaudit.audit.fairness.reasons import adverse_action_reasons, reason_summary
from deepaudit.audit.fairness.significance import adjust_pvalues, significance_tests, two_proportion_ztest

__all__ = [
    "Policy", "UNKNOWN", "GroupCodes", "adjust_pvalues", "adverse_action_reasons", "counterfactual_checks",
    "counterfactual_probe", "load_policy", "proxy_table", "reason_summary", "threshold_what_if", "binary_outcomes",
    "bootstrap_counts", "calibration_curves",
    "calibration_error", "disparities", "encode_groups", "group_counts", "group_metrics", "log_ratio_interval",
    "percentile_interval", "resolve_reference", "significance_tests", "two_proportion_ztest", "wilson_interval",
]
