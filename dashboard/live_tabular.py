"""Rescore and re-explain an edited applicant of a tabular (finance) run with the loaded model.

No Dash here: the what-if editor's callbacks call these functions, and so do the unit tests.

- :func:`editable_fields` derives one :class:`Field` per raw model input from the target: its kind
  (binary / categorical dropdown or numeric input), the allowed range and whether it may be missing.
  Ranges come from what the target provides: ``provenance["feature_ranges"] = {name: [lo, hi]}``, else its
  training rows (``AuditTarget.reference_rows``; the bundled mortgage model gives its training split),
  otherwise the evaluation data, and :attr:`LiveTabular.range_source` says which. Codebook values that mean
  "missing" come from ``provenance["feature_sentinels"] = {name: [codes]}``. Nothing here knows the bundled
  models' package.
- :meth:`LiveTabular.what_if` validates the edits, preprocesses the original and the edited row with the
  target's own ``preprocess``, scores both, attributes both with Integrated Gradients (the run's recorded
  options, toward the favourable class) and derives adverse-action reasons the way
  :mod:`deepaudit.audit.fairness.reasons` does. A field the user left unchanged is never rejected, even where a real
  applicant's value lies outside the training range; an edited one must lie inside it.
"""
from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.explain import make_explainer
from deepaudit.audit.explain.views import feature_groups
from deepaudit.audit.fairness.reasons import rank_reasons
from deepaudit.dashboard.records import records

NOT_EDITABLE = ("the live model {name!r} cannot be edited here: {reason}. The stored explanations above are "
                "unaffected.")
REQUIRED = "{label} ({name}): a value is required; enter {allowed}."
NOT_NUMBER = "{label} ({name}): {value!r} is not a number; enter {allowed}."
OUT_OF_RANGE = "{label} ({name}): {value:g} is outside the training range; enter {allowed}."
NOT_OPTION = "{label} ({name}): {value!r} is not an allowed value; choose {allowed}."
UNKNOWN_FIELDS = "unknown field(s) {names}; the model's inputs are {known}."
MAX_TEXT = 32           # longest text accepted in one field (a number never needs more)
MAX_CATEGORIES = 6      # integer features with at most this many values get a dropdown
MISSING = "missing"


@dataclass(frozen=True)
class Field:
    """One editable raw input of a tabular model."""

    name: str
    label: str
    kind: str                      # "binary" | "categorical" | "numeric"
    lo: float
    hi: float
    options: tuple[float, ...] = ()
    missing_ok: bool = False

    def allowed(self) -> str:
        """The allowed values in words, for hints and error messages."""
        miss = " (or leave blank for missing)" if self.missing_ok else ""
        if self.kind == "numeric":
            return f"a number from {format_value(self.lo)} to {format_value(self.hi)}{miss}"
        opts = ", ".join(format_value(o) for o in self.options) + (f", {MISSING}" if self.missing_ok else "")
        return f"one of {opts}"


@dataclass
class WhatIf:
    """The original and the edited applicant, scored and explained the same way."""

    original_score: float
    edited_score: float
    original_decision: str
    edited_decision: str
    attributions: pd.DataFrame      # feature, label, original, edited (merged with missing indicators)
    reasons_original: pd.DataFrame  # rank, feature, reason, attribution, share_of_denial
    reasons_edited: pd.DataFrame
    changed: list[dict[str, Any]] = field(default_factory=list)   # name, label, before, after
    elapsed_s: float = 0.0
    batch_size: int = 1    # what-ifs explained in the same pass (deepaudit.dashboard.batching)

    @property
    def flipped(self) -> bool:
        return self.original_decision != self.edited_decision


def _sentinels(target) -> dict[str, list[float]]:
    """Codebook values per raw input that mean "missing" (``provenance["feature_sentinels"]``)."""
    found = target.provenance.get("feature_sentinels") or {}
    return {str(k): list(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _reference_rows(target) -> pd.DataFrame | None:
    """The target's training rows (:attr:`deepaudit.audit.target.AuditTarget.reference_rows`), None where it has
    none."""
    rows = getattr(target, "reference_rows", None)
    return rows if isinstance(rows, pd.DataFrame) else None


def _clean(values: pd.Series, sentinels: list[float]) -> np.ndarray:
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return np.where(np.isin(v, sentinels), np.nan, v)


def _clean_value(value: Any, sentinels: list[float]) -> float:
    """One raw value as :func:`_clean` reads a column's: a number, NaN where it is not one or is a sentinel."""
    v = float(pd.to_numeric(pd.Series([value]), errors="coerce").to_numpy(dtype=np.float64)[0]) \
        if isinstance(value, str) else _number(value)
    return math.nan if v in sentinels else v


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def editable_fields(target, *, training: pd.DataFrame | None = None) -> tuple[list[Field], str]:
    """The raw inputs of ``target`` as editable fields, and where their ranges came from."""
    raw = target.eval_data.raw
    if not isinstance(raw, pd.DataFrame) or target.preprocess is None or not target.feature_names:
        raise ValueError(NOT_EDITABLE.format(name=target.name, reason="it has no raw rows, preprocess or "
                                                                      "feature_names"))
    training = _reference_rows(target) if training is None else training
    sentinels = _sentinels(target)
    labels = target.provenance.get("feature_labels") or {}
    ranges = target.provenance.get("feature_ranges") or {}
    names = [g for g in feature_groups(target.feature_names) if g in raw.columns]
    if not names:
        raise ValueError(NOT_EDITABLE.format(name=target.name, reason="no model input is a column of its raw rows"))
    source = ("the target's recorded feature ranges" if ranges else
              "the training data" if training is not None and all(n in training.columns for n in names) else
              "the evaluation data")
    ref = training if source == "the training data" else raw
    fields = []
    for n in names:
        s = sentinels.get(n, [])
        v_ref, v_eval = _clean(ref[n], s), _clean(raw[n], s)
        finite = v_ref[np.isfinite(v_ref)]
        if finite.size == 0:
            continue
        uniq = np.unique(finite)
        missing_ok = f"{n}_missing" in target.feature_names or bool(np.isnan(v_ref).any() or np.isnan(v_eval).any())
        lo, hi = (float(ranges[n][0]), float(ranges[n][1])) if n in ranges else (_short(uniq[0]), _short(uniq[-1]))
        if set(uniq.tolist()) <= {0.0, 1.0}:
            kind, options = "binary", (0.0, 1.0)
        elif np.all(uniq == np.round(uniq)) and len(uniq) <= MAX_CATEGORIES:
            kind, options = "categorical", tuple(float(u) for u in uniq)
        else:
            kind, options = "numeric", ()
        fields.append(Field(n, labels.get(n, n), kind, lo, hi, options, missing_ok))
    return fields, source


def _value(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def format_value(v: float) -> str:
    """A raw value for display: whole numbers as such, others to 4 significant digits, NaN as missing."""
    if not math.isfinite(v):
        return MISSING
    if v == round(v) and abs(v) < 1e15:
        return f"{int(v):,}" if abs(v) >= 1e4 else str(int(v))
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def input_text(v: float) -> str:
    """A raw value as the editor shows it in a text input: exact (round-trips through float), no separators."""
    if not math.isfinite(v):
        return ""
    return str(int(v)) if v == round(v) and abs(v) < 1e15 else repr(v)


def ig_options(result: dict[str, Any]) -> dict[str, Any]:
    """The Integrated Gradients options the run recorded (its own IG, else the reason codes' stored ``params``).

    A run whose reason codes carry no ``params`` (stored before they were) gives ``{}``: the explainer's defaults.
    """
    ig = result.get("explanations", {}).get("methods", {}).get("integrated_gradients")
    if ig is not None:
        return dict(ig.get("options") or {})
    params = result.get("fairness", {}).get("probes", {}).get("reason_codes", {}).get("params") or {}
    if params.get("method", "integrated_gradients") != "integrated_gradients" or "n_steps" not in params:
        return {}
    return {"n_steps": int(params["n_steps"])}


class LiveTabular:
    """A loaded tabular target with its editable fields; :meth:`what_if` rescores and re-explains a row."""

    def __init__(self, target, *, training: pd.DataFrame | None = None, lease: Any = None,
                 submit: Any = None, compute: Any = None) -> None:
        if len(target.class_names) != 2:
            raise ValueError(NOT_EDITABLE.format(name=target.name, reason="the what-if editor needs a binary "
                                                                          "classifier"))
        self.target = target
        # LiveModels.lease: a compute slot and a model copy no other request uses meanwhile
        self._lease = lease or (lambda: contextlib.nullcontext(target))
        # MicroBatcher.submit: concurrent what-ifs of this model are explained in one pass
        self._submit = submit or (lambda key, item, run: (run([item])[0], 1))
        # LiveModels.what_if_batch: the batch computed in the live worker process; here by default
        self._compute = compute or self.explain_batch
        self.fields, self.range_source = editable_fields(target, training=training)
        self.by_name = {f.name: f for f in self.fields}
        self.sentinels = _sentinels(target)
        fav = target.favorable_label
        self.favorable = target.class_names.index(fav) if fav in target.class_names else len(target.class_names) - 1
        self.groups = feature_groups(target.feature_names)
        self.labels = target.provenance.get("feature_labels") or {}
        self.index_of = {str(s): i for i, s in enumerate(np.asarray(target.eval_data.sample_ids).tolist())}

    # -- the applicant --------------------------------------------------
    def row(self, sample_id: int) -> pd.DataFrame:
        """The raw evaluation row of ``sample_id`` (one-row DataFrame); KeyError when unknown."""
        return self.target.eval_data.raw.iloc[[self.index_of[str(sample_id)]]].reset_index(drop=True)

    def values(self, row: pd.DataFrame) -> dict[str, float]:
        """Field values of a raw row, with codebook sentinels read as missing (NaN).

        Values stored as float32 are given as their shortest decimal (35.9, not 35.900001525878906), which is
        what a user sees and types back; it maps to the same float32, so an unedited row scores the same.
        """
        first = records(row.iloc[:1])[0]       # one conversion of the row, not one pandas call per field
        return {f.name: _short(_clean_value(first[f.name], self.sentinels.get(f.name, []))) for f in self.fields}

    # -- validation -----------------------------------------------------
    def validate(self, submitted: dict[str, Any], original: dict[str, float]
                 ) -> tuple[dict[str, float], dict[str, str]]:
        """Parse submitted field values; return (values, {field: message}). Unchanged fields are always accepted."""
        unknown = sorted(set(submitted) - set(self.by_name))
        if unknown:
            return {}, {"": UNKNOWN_FIELDS.format(names=unknown[:5], known=sorted(self.by_name))}
        out, errors = dict(original), {}
        for name, raw in submitted.items():
            f = self.by_name[name]
            ctx = {"label": f.label, "name": name, "allowed": f.allowed()}
            if isinstance(raw, str) and len(raw) > MAX_TEXT:
                errors[name] = NOT_NUMBER.format(value=raw[:MAX_TEXT] + "…", **ctx)
                continue
            if raw is None or (isinstance(raw, str) and raw.strip() in ("", MISSING)):
                if f.missing_ok:
                    out[name] = math.nan
                elif not math.isnan(original[name]):
                    errors[name] = REQUIRED.format(**ctx)
                continue
            v = math.nan if isinstance(raw, bool) else _value(raw)
            if not math.isfinite(v):
                errors[name] = NOT_NUMBER.format(value=raw, **ctx)
                continue
            if v == original[name]:
                out[name] = v
            elif f.kind != "numeric" and v not in f.options:
                errors[name] = NOT_OPTION.format(value=raw, **ctx)
            elif f.kind == "numeric" and not f.lo <= v <= f.hi:
                errors[name] = OUT_OF_RANGE.format(value=v, **ctx)
            else:
                out[name] = v
        return out, errors

    # -- scoring and explaining -------------------------------------------
    def merged(self, attributions: np.ndarray) -> np.ndarray:
        """(n, features) -> (n, groups): a feature summed with its missing indicator."""
        return np.stack([attributions[:, m].sum(1) for m in self.groups.values()], axis=1)

    def reasons(self, merged_row: np.ndarray, score: float) -> pd.DataFrame:
        """Adverse-action reasons of one applicant, as in
        :func:`deepaudit.audit.fairness.reasons.adverse_action_reasons`."""
        cols = ["rank", "feature", "reason", "attribution", "share_of_denial"]
        if score >= 0.5:
            return pd.DataFrame(columns=cols)
        return pd.DataFrame(rank_reasons(merged_row, list(self.groups), self.labels), columns=cols)

    def explain_rows(self, rows: pd.DataFrame, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int]:
        """Favourable-class probabilities and merged IG attributions of raw ``rows``, and the number of
        requests explained in the same pass (concurrent what-ifs with the same options share one)."""
        key = ("what-if", id(self), json.dumps(options, sort_keys=True, default=str))
        (probs, merged), batch = self._submit(key, rows, lambda frames: self._compute(frames, options))
        return probs, merged, batch

    def explain_batch(self, frames: list[pd.DataFrame], options: dict[str, Any]
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`explain_rows` of several requests in one pass: (probabilities, merged attributions) each.

        Each request's rows are preprocessed on their own (``preprocess`` never sees another request's
        rows), then scored and attributed together; a row's IG does not depend on the other rows, so each
        answer equals its own pass up to float32 rounding (tests/live/test_live_batching.py).
        """
        with self._lease() as t:
            x = torch.cat([t.preprocess(f) for f in frames])
            probs = torch.softmax(t.logits(x).double(), 1).numpy()
            attr = make_explainer("integrated_gradients", t, **options).attribute(x, target=self.favorable)
        p, merged = probs[:, self.favorable], self.merged(attr.double().numpy())
        ends = np.cumsum([len(f) for f in frames])
        return [(p[e - len(f):e], merged[e - len(f):e]) for f, e in zip(frames, ends)]

    def edited_row(self, row: pd.DataFrame, values: dict[str, float]) -> pd.DataFrame:
        out = row.copy()
        for name, v in values.items():
            out[name] = np.array([v], dtype=np.float64)
        return out

    def what_if(self, sample_id: int, submitted: dict[str, Any], options: dict[str, Any]) -> WhatIf | dict[str, str]:
        """Score and explain ``sample_id`` before and after ``submitted`` edits; {field: message} when invalid."""
        t0 = time.perf_counter()
        row = self.row(sample_id)
        original = self.values(row)
        values, errors = self.validate(submitted, original)
        if errors:
            return errors
        changed = {n: v for n, v in values.items() if not _same(v, original[n])}
        rows = pd.concat([row, self.edited_row(row, changed)], ignore_index=True)
        probs, merged, batch = self.explain_rows(rows, options)
        cls = self.target.class_names
        decisions = [cls[self.favorable] if p >= 0.5 else cls[1 - self.favorable] for p in probs]
        names = list(self.groups)
        attributions = pd.DataFrame({"feature": names, "label": [self.labels.get(n, n) for n in names],
                                     "original": merged[0], "edited": merged[1]})
        return WhatIf(
            original_score=float(probs[0]), edited_score=float(probs[1]), original_decision=decisions[0],
            edited_decision=decisions[1], attributions=attributions,
            reasons_original=self.reasons(merged[0], float(probs[0])),
            reasons_edited=self.reasons(merged[1], float(probs[1])),
            changed=[{"name": n, "label": self.by_name[n].label, "before": format_value(original[n]),
                      "after": format_value(v)} for n, v in changed.items()],
            elapsed_s=time.perf_counter() - t0, batch_size=batch)


def _short(v: float) -> float:
    if math.isfinite(v) and float(np.float32(v)) == v:
        return float(str(np.float32(v)))
    return v


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


class LiveTabularCache:
    """One :class:`LiveTabular` per target spec, built on first use. Thread-safe; lives in a callback closure."""

    def __init__(self, live) -> None:
        self.live = live
        self._by_spec: dict[str, LiveTabular] = {}
        self._lock = threading.Lock()

    def get(self, spec: str) -> LiveTabular:
        with self._lock:
            if spec not in self._by_spec:
                remote = None
                if self.live.worker is not None:
                    remote = lambda frames, options, s=spec: self.live.what_if_batch(s, frames, options)  # noqa: E731
                self._by_spec[spec] = LiveTabular(self.live.target(spec), lease=lambda s=spec: self.live.lease(s),
                                                  submit=self.live.batcher.submit, compute=remote)
            return self._by_spec[spec]
