"""Compliance profiles: what a regulator or a validator asks for, checked against one stored run.

A profile is a data file (TOML; ``profiles/`` holds the shipped ones: ``ll144``, ``eu-ai-act``, ``sr11-7``,
``reg-b``) listing requirements, each with its citation and the *evidence* that answers it. Evidence is a
named function of :mod:`deepaudit.audit.compliance.evidence` reading the run and its report; each requirement
is marked ``covered`` (the run holds the evidence; the detail says what and where), ``not covered`` (the run
could hold it and does not, or the evidence shows a problem: the detail says which) or ``needs input`` (only
a person can supply it: independence, dates of distribution, a risk-management system). A validator copies a
profile file, edits or adds requirements and passes the file's path instead of a name; every file is
validated on load (unknown keys, unknown evidence, duplicate ids are refused with the fix).

:func:`evaluate_profile` gives a profile's checklist and its tables (for LL144, the selection rates and impact
ratios per category, read from the fairness engine's stored group tables); the report renders them
(``deepaudit report RUN --profile ll144 --profile reg-b``).
"""
from __future__ import annotations

from deepaudit.audit.compliance.profiles import (  # noqa: F401  re-exported
    PROFILE_NAMES,
    Profile,
    evaluate_profile,
    load_profile,
)
