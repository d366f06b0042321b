"""Audit policies: thresholds in a TOML file that become pass/fail checks.

Two sections: ``[fairness]`` (group statistics and probes) and
``[explanations]`` (explanation-quality and shortcut checks).

A default policy ships (``default_policy.toml`` beside this module);
``deepaudit run --policy FILE`` replaces any of its values. Unknown keys and
wrong types are errors (a typo must not silently keep a default).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomllib

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")
MISSING_FILE = "policy file {path} does not exist. Fix: pass the path of a TOML file (see {default})."
BAD_TOML = "policy file {path} is not valid TOML: {error}. Fix: correct the syntax (see {default})."
UNKNOWN_KEY = "policy {path}: unknown key {key!r} in [{section}]. Fix: use one of {known}."
UNKNOWN_SECTION = "policy {path}: unknown section [{section}]. Fix: use one of {known}."
BAD_VALUE = "policy {path}: {key} = {value!r} must be {expected}. Fix: change the value."


@dataclass(frozen=True)
class Policy:
    """Thresholds of one audit policy (see ``default_policy.toml`` for meanings)."""

    impact_ratio_min: float = 0.8
    equalized_odds_difference_max: float = 0.1
    demographic_parity_difference_max: float = 0.1
    min_group_share: float = 0.02
    exclude_small_groups: bool = True
    ece_max: float = 0.1
    cohort_accuracy_gap_max: float = 0.1
    counterfactual_max_abs_diff: float = 0.05
    counterfactual_max_flip_share: float = 0.05
    proxy_eta_min: float = 0.3
    proxy_top_k: int = 10
    proxy_reason_share_min: float = 0.1
    reason_faithfulness_share_min: float = 0.9
    attributes: str = "sensitive"
    n_boot: int = 1000
    correction: str = "holm"
    completeness_share_min: float = 0.95
    deletion_ratio_max: float = 0.9
    insertion_ratio_min: float = 1.05
    infidelity_max: float = 0.72
    max_sensitivity_max: float = 0.5
    randomization_similarity_max: float = 0.5
    shortcut_ratio_max: float = 10.0
    source: str = "default"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_RULES: dict[str, tuple[type, Any, str]] = {
    "impact_ratio_min": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "equalized_odds_difference_max": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "demographic_parity_difference_max": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "min_group_share": (float, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "exclude_small_groups": (bool, lambda v: True, "true or false"),
    "ece_max": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "cohort_accuracy_gap_max": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "counterfactual_max_abs_diff": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "counterfactual_max_flip_share": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "proxy_eta_min": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "proxy_top_k": (int, lambda v: v >= 1, "a positive integer"),
    "proxy_reason_share_min": (float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "reason_faithfulness_share_min": (float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "attributes": (str, lambda v: v in ("sensitive", "all"), "'sensitive' or 'all'"),
    # docs/statistics.md: B >= 1000 for every bootstrap interval.
    "n_boot": (int, lambda v: 1000 <= v <= 100_000, "an integer between 1000 and 100000"),
    "correction": (str, lambda v: v in ("holm", "bh"), "'holm' or 'bh'"),
}
_EXPLANATION_RULES: dict[str, tuple[type, Any, str]] = {
    "completeness_share_min": (float, lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "deletion_ratio_max": (float, lambda v: v > 0, "a positive number"),
    "insertion_ratio_min": (float, lambda v: v > 0, "a positive number"),
    "infidelity_max": (float, lambda v: v > 0, "a positive number"),
    "max_sensitivity_max": (float, lambda v: v > 0, "a positive number"),
    "randomization_similarity_max": (float, lambda v: -1 <= v <= 1, "a number in [-1, 1]"),
    "shortcut_ratio_max": (float, lambda v: v >= 1, "a number >= 1"),
}
_SECTIONS = {"fairness": _RULES, "explanations": _EXPLANATION_RULES}


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, overridden by the values in ``path`` when given."""
    values = _read(DEFAULT_POLICY_PATH)
    source = "default"
    if path is not None:
        values.update(_read(Path(path)))
        source = str(path)
    return Policy(**values, source=source)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(MISSING_FILE.format(path=path, default=DEFAULT_POLICY_PATH))
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(BAD_TOML.format(path=path, error=e, default=DEFAULT_POLICY_PATH)) from None
    out: dict[str, Any] = {}
    for section, table in doc.items():
        if section not in _SECTIONS or not isinstance(table, dict):
            raise ValueError(UNKNOWN_SECTION.format(path=path, section=section, known=sorted(_SECTIONS)))
        rules = _SECTIONS[section]
        for key, value in table.items():
            if key not in rules:
                raise ValueError(UNKNOWN_KEY.format(path=path, key=key, section=section, known=sorted(rules)))
            kind, ok, expected = rules[key]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            wrong_type = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
            if wrong_type or not ok(value):
                raise ValueError(BAD_VALUE.format(path=path, key=key, value=value, expected=expected))
            out[key] = value
    return out
