"""What a tabular target's inputs mean: readable labels (with units), decoded codes, and flags.

A target describes its inputs in its ``provenance`` (all optional; a column without an entry is shown by its name):

- ``feature_labels``: ``{column: label}``; put the unit in the label ("loan amount ($1000s)", "debt / income (%)").
- ``feature_codes``: ``{column: {code: meaning}}`` for coded inputs; codes are written as the value prints
  (``"1"``, not ``"1.0"``). Binary indicators are codes too: ``{"0": "no", "1": "yes"}``.
- ``feature_flags``: ``{column: flag}`` with a flag of :data:`FLAGS`, e.g. ``"geographic"`` for an input that
  describes where the applicant lives rather than the applicant. Flagged inputs carry the flag beside their label
  wherever they appear (importance, reason codes, proxy and gap tables, the dashboard).

The run stores the resolved codebook (``result["model"]["features"]``), so a report or the dashboard reads the
meanings from the run, never from the target's code.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Flags a target may put on an input, with what the flag tells a reader.
FLAGS: dict[str, str] = {
    "geographic": ("describes the neighbourhood (census tract, county or area), not the applicant; where people "
                   "live correlates with race and ethnicity, so such an input can stand in for them"),
}

BAD_FLAG = "feature_flags[{col!r}] = {flag!r} is not a known flag. Fix: use one of {known}."
BAD_CODES = ("feature_codes[{col!r}] must map codes to meanings ({{'1': 'owner-occupied'}}), got {got!r}. "
             "Fix: give a dict of str -> str.")


def code_key(value: Any) -> str:
    """The codebook key of a value: ``1.0`` -> ``"1"``, ``"A"`` -> ``"A"``."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        try:
            return f"{float(value):g}"
        except (TypeError, ValueError):
            pass
    return str(value)


@dataclass(frozen=True)
class Codebook:
    """Labels, codes and flags of a target's input columns (see the module docstring)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    flags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for col, flag in self.flags.items():
            if flag not in FLAGS:
                raise ValueError(BAD_FLAG.format(col=col, flag=flag, known=sorted(FLAGS)))
        for col, codes in self.codes.items():
            if not isinstance(codes, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                         for k, v in codes.items()):
                raise ValueError(BAD_CODES.format(col=col, got=codes))

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any] | None) -> Codebook:
        p = provenance or {}
        return cls(labels=dict(p.get("feature_labels") or {}), codes=dict(p.get("feature_codes") or {}),
                   flags=dict(p.get("feature_flags") or {}))

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> Codebook:
        """The codebook a run stored; an older run without one gives an empty codebook (names shown as they are).

        A stored codebook that does not validate (a damaged run) is ignored rather than breaking the page.
        """
        return cls.from_stored(((result or {}).get("model") or {}).get("features"))

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> Codebook:
        """The codebook from its stored form (``result["model"]["features"]``; see :meth:`from_result`)."""
        stored = stored if isinstance(stored, Mapping) else {}
        try:
            return cls(labels=dict(stored.get("labels") or {}), codes=dict(stored.get("codes") or {}),
                       flags=dict(stored.get("flags") or {}))
        except (TypeError, ValueError, AttributeError):
            return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"labels": dict(self.labels), "codes": {k: dict(v) for k, v in self.codes.items()},
                "flags": dict(self.flags)}

    @staticmethod
    def base(col: str) -> str:
        """A missing-value indicator (``x_missing``) belongs to its input ``x``."""
        return col.removesuffix("_missing")

    def flag(self, col: str) -> str | None:
        return self.flags.get(col, self.flags.get(self.base(col)))

    def label(self, col: str, *, mark: bool = True) -> str:
        """The readable label of ``col`` ("tract vacancy rate above median (geographic)" when flagged)."""
        text = self.labels.get(col, self.labels.get(self.base(col), col))
        flag = self.flag(col) if mark else None
        return f"{text} ({flag})" if flag else text

    def label_map(self, cols: list[str]) -> dict[str, str]:
        """``{column: label}`` for ``cols`` (flags marked), the form the explanation and fairness tables take."""
        return {c: self.label(c) for c in cols}

    def value(self, col: str, value: Any) -> str:
        """A value of ``col`` for a reader: its meaning and code ("condominium (1)"), or the number as stored."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "missing"
        key = code_key(value)
        meaning = self.codes.get(self.base(col), {}).get(key)
        return f"{meaning} ({key})" if meaning else key

    def flagged_note(self, cols: list[str] | None = None) -> str:
        """One sentence per flag used among ``cols`` (all columns when None), for a chart or table footnote."""
        used = {self.flag(c) for c in (cols if cols is not None else list(self.flags))} - {None}
        return " ".join(f"({f}) marks an input that {FLAGS[f]}." for f in sorted(used))
