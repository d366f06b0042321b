"""From a check to the page and anchor that show its evidence (the dashboard's "verdict to evidence").

Every check of a run maps to one place: a page of the model, the query that selects what the check is about
(the attribute, the counterfactual probe) and the id of the section holding the numbers. A family deepaudit
does not know (a user's plug-in check) points at its own row of the Checks page. Pure functions: no Dash.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from deepaudit.audit.schema import CHECK_FAMILIES, Check

#: Section ids the evidence links point at (the pages set them).
FAIRNESS_TABLE = "fairness-groups"
FAIRNESS_GAP = "fairness-gap"
COUNTERFACTUAL = "counterfactual-probes"
REASON_CODES = "reason-codes"
QUALITY_SECTIONS = {"completeness": "section-quality-completeness",
                    "completeness_ig": "section-quality-completeness",
                    "deletion_auc_vs_random": "section-quality-curves",
                    "insertion_auc_vs_random": "section-quality-curves",
                    "infidelity": "section-quality-robustness", "max_sensitivity": "section-quality-robustness",
                    "sanity_randomization": "section-quality-randomization", "shortcut": "section-quality-shortcut"}
QUALITY_LABELS = {"section-quality-completeness": "completeness", "section-quality-curves": "deletion and insertion",
                  "section-quality-robustness": "infidelity and max-sensitivity",
                  "section-quality-randomization": "model-randomization check",
                  "section-quality-shortcut": "shortcut probes"}


class Evidence(NamedTuple):
    """Where a check's evidence is: ``page`` of the model, ``query`` selecting it, ``anchor`` (an element id)."""

    page: str
    query: dict[str, Any]
    anchor: str
    label: str


def check_anchor(check_id: str) -> str:
    """The id of a check's row on the Checks page."""
    return "check-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in check_id)


def evidence_for(check: Check) -> Evidence:
    """The page, query and section showing the evidence behind ``check``."""
    fam, subject = check.family, check.subject or ""
    if fam.startswith("counterfactual_"):
        return Evidence("explanations", {"probe": subject} if subject else {}, COUNTERFACTUAL,
                        "Explanations · counterfactual probes")
    if fam == "fairness.reason_faithfulness":
        return Evidence("explanations", {}, REASON_CODES, "Explanations · applicants and reason codes")
    if fam == "fairness.proxy":
        return Evidence("fairness", {"attribute": subject} if subject else {}, FAIRNESS_GAP,
                        "Fairness · what drives the gap")
    if fam.startswith("fairness."):
        by_attribute = CHECK_FAMILIES.get(fam, ("", ""))[1] == "attribute" and subject
        return Evidence("fairness", {"attribute": subject} if by_attribute else {}, FAIRNESS_TABLE,
                        f"Fairness · {subject.replace('_x_', ' × ')}" if by_attribute else "Fairness")
    if fam in QUALITY_SECTIONS:
        return Evidence("quality", {}, QUALITY_SECTIONS[fam], "Quality · " + QUALITY_LABELS[QUALITY_SECTIONS[fam]])
    return Evidence("checks", {}, check_anchor(check.id), "Checks (no evidence page for this family)")


def page_checks(checks: list[Check], page: str, *, subject: str | None = None) -> list[Check]:
    """The checks whose evidence ``page`` shows (only those about ``subject`` when given)."""
    out = []
    for c in checks:
        ev = evidence_for(c)
        if ev.page != page:
            continue
        about = ev.query.get("attribute") or ev.query.get("probe")
        if subject is not None and about not in (None, subject):
            continue
        out.append(c)
    return out
