"""The typed result of one audit: :class:`AuditResult`.

The same type comes back whether a run was just computed in memory
(``audit(target)``) or read from a run store (``AuditResult.load``): its
sections are dataclasses (:class:`ModelInfo`, :class:`DatasetInfo`,
:class:`Provenance`, :class:`Performance`, :class:`Fairness`,
:class:`Explanations`, :class:`QualityEntry`), its checks are
:class:`~deepaudit.audit.schema.Check` records with structured fields, and every table
is available as a DataFrame (:meth:`AuditResult.table`,
:meth:`AuditResult.tables` and the named accessors). ``to_dict()`` gives the
JSON document the schema (:mod:`deepaudit.audit.schema`) describes; ``save()`` writes
it, with the predictions and arrays, atomically into a store.

Reading a result never imports or runs anything named in it: it is parsed
JSON, a parquet table and ``.npz`` arrays loaded with ``allow_pickle=False``.
Keys a section does not declare (written by a newer minor version) are kept
in its ``extra`` mapping, so load -> save loses nothing.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping

import numpy as np
import pandas as pd

from deepaudit.audit.schema import Check

UNKNOWN_TABLE = "no table {name!r} in run {run_id}. Tables: {have}."
DAMAGED_ARRAY = ("run {run_id}: the stored array file {name!r} ({path}) cannot be read ({error}); the run's other "
                 "numbers are unaffected. Fix: restore the file from a copy of the run, or audit again.")
UNKNOWN_ARRAY = "run {run_id!r} has no array file {name!r} (has: {have}). Fix: use one of those names."
NO_PREDICTIONS = ("run {run_id} has no predictions table ({why}). Fix: re-run the audit; an older or damaged run "
                  "cannot supply per-sample predictions.")


def _plain(v: Any) -> Any:
    if isinstance(v, _Record):
        return v.to_dict()
    if isinstance(v, Check):
        return v.to_dict()
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


class _Record:
    """A section of the result: declared fields, nested sections converted, other keys kept in ``extra``."""

    _nested: ClassVar[dict[str, Any]] = {}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        if not isinstance(d, Mapping):
            raise ValueError(f"{cls.__name__} must be a JSON object, got {type(d).__name__}")
        names = [f.name for f in fields(cls) if f.name != "extra"]
        kw: dict[str, Any] = {}
        for name in names:
            if name in d:
                conv = cls._nested.get(name)
                kw[name] = conv(d[name]) if conv is not None and d[name] is not None else d[name]
        return cls(**kw, extra={k: v for k, v in d.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}
        out.update(getattr(self, "extra", {}))
        return out


def _frame(rows: Any) -> pd.DataFrame:
    return pd.DataFrame(list(rows or []))


@dataclass(frozen=True)
class ModelInfo(_Record):
    name: str
    domain: str
    task: str
    class_names: list[str]
    favorable_label: str | None
    spec: str
    num_params: int | None = None
    feature_names: list[str] | None = None
    card: dict[str, Any] = field(default_factory=dict)
    #: the inputs' codebook (labels, codes, flags; :class:`deepaudit.audit.features.Codebook`); empty for older runs
    features: dict[str, Any] = field(default_factory=dict)
    #: the data kind ("tabular", "image", "text", "other"; None in runs written before kinds were recorded:
    #: :func:`deepaudit.audit.capabilities.kind_of_run` reads it from the domain) and what was computed for it
    kind: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    #: what one row is called ("applicant"); None in runs written before it was stored
    row_noun: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class DatasetInfo(_Record):
    n_samples: int
    sha256: str
    groups: dict[str, dict[str, int]]
    name: str = ""
    sensitive_columns: list[str] = field(default_factory=list)
    cohort_columns: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Provenance(_Record):
    weights_sha256: str
    data_sha256: str
    seed: int
    device: str
    packages: dict[str, str]
    created_at: str
    recipe: dict[str, Any] | str | None = field(default_factory=dict)
    git_commit: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Performance(_Record):
    """Overall metrics, per-class table, the model card's metrics and the intervals the audit computed."""

    overall: dict[str, Any]
    per_class: list[dict[str, Any]]
    card_metrics: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_class_interval: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class FairnessAttribute(_Record):
    """One sensitive attribute or cohort column: its group table and comparisons."""

    name: str
    kind: str
    groups: list[dict[str, Any]]
    rate_meaning: str = ""
    disparities: list[dict[str, Any]] = field(default_factory=list)
    significance: list[dict[str, Any]] = field(default_factory=list)
    calibration: list[dict[str, Any]] = field(default_factory=list)
    reliability: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    TABLES: ClassVar[tuple[str, ...]] = ("groups", "disparities", "significance", "calibration", "reliability")


@dataclass(frozen=True)
class Fairness(_Record):
    status: str
    policy: dict[str, Any] = field(default_factory=dict)
    favorable_label: str | None = None
    reference_rule: str = ""
    outcome: str = ""
    attributes: list[FairnessAttribute] = field(default_factory=list)
    probes: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    _nested: ClassVar[dict[str, Any]] = {"attributes": lambda v: [FairnessAttribute.from_dict(a) for a in v]}

    def attribute(self, name: str) -> FairnessAttribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(f"no fairness attribute {name!r}; attributes: {[a.name for a in self.attributes]}")


@dataclass(frozen=True)
class MethodResult(_Record):
    """One attribution method: how many samples, where its array is, its options and global tables."""

    n_samples: int
    array: str
    needs_baseline: bool
    options: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Explanations(_Record):
    methods: dict[str, MethodResult]
    explained_class: str = ""
    sample_index: str = ""
    shortcut_probes: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    _nested: ClassVar[dict[str, Any]] = {"methods": lambda v: {k: MethodResult.from_dict(m) for k, m in v.items()}}


@dataclass(frozen=True)
class QualityEntry(_Record):
    """One explanation-quality measurement: summary scalars and tidy tables."""

    name: str
    summary: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, eq=False)
class AuditResult:
    """One audit of one model on one dataset (see the module docstring).

    ``path`` is the run's directory when it is stored, else None; the
    predictions and arrays are then held in memory.
    """

    schema_version: str
    run_id: str
    model: ModelInfo
    dataset: DatasetInfo
    provenance: Provenance
    performance: Performance
    fairness: Fairness
    explanations: Explanations
    quality: dict[str, QualityEntry]
    checks: tuple[Check, ...]
    path: Path | None = None
    _predictions: pd.DataFrame | None = field(default=None, repr=False)
    _arrays: dict[str, dict[str, np.ndarray]] | None = field(default=None, repr=False)

    # -- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, path: str | os.PathLike | None = None,
                  predictions: pd.DataFrame | None = None,
                  arrays: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                  validate: bool = True) -> "AuditResult":
        """The typed view of a result document (migrated to the current schema, then validated)."""
        from deepaudit.audit.migrate import migrate
        from deepaudit.audit.schema import validate_result

        if validate:
            doc = migrate(dict(doc), predictions=(lambda: predictions) if predictions is not None else None)
            validate_result(doc)
        obj = cls(
            schema_version=doc["schema_version"], run_id=doc["run_id"],
            model=ModelInfo.from_dict(doc["model"]), dataset=DatasetInfo.from_dict(doc["dataset"]),
            provenance=Provenance.from_dict(doc["provenance"]), performance=Performance.from_dict(doc["performance"]),
            fairness=Fairness.from_dict(doc["fairness"]), explanations=Explanations.from_dict(doc["explanations"]),
            quality={k: QualityEntry.from_dict(v) for k, v in doc["quality"].items()},
            checks=tuple(Check.from_dict(c) for c in doc["checks"]),
            path=Path(path) if path is not None else None, _predictions=predictions,
            _arrays={k: dict(v) for k, v in arrays.items()} if arrays is not None else None)
        object.__setattr__(obj, "_doc", dict(doc))
        return obj

    @classmethod
    def load(cls, where: str | os.PathLike, run_id: str | None = None) -> "AuditResult":
        """A stored run: ``load(run_dir)``, or ``load(store_root, run_id)`` (``latest``, ``latest:<model>`` too)."""
        from deepaudit.audit.store import RunStore, read_result

        if run_id is not None:
            return RunStore(where).load(run_id)
        p = Path(where)
        return cls.from_dict(read_result(p), path=p, validate=False)

    def save(self, store: Any) -> "AuditResult":
        """Write this result (with its predictions and arrays) into ``store`` (a RunStore or its root path).

        Returns the stored result; saving an already stored run into another
        store copies it.
        """
        from deepaudit.audit.store import RunStore

        store = store if isinstance(store, RunStore) else RunStore(store)
        arrays = {name: self.arrays(name) for name in self.array_names()}
        return store.write_run(self.to_dict(), predictions=self.predictions(), arrays=arrays)

    # -- the JSON document --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The result as the JSON document of :data:`deepaudit.audit.schema.RESULT_SCHEMA` (a fresh copy)."""
        import copy

        return copy.deepcopy(self.result)

    @property
    def result(self) -> dict[str, Any]:
        """The JSON document (read-only by convention; :meth:`to_dict` for a copy to change)."""
        doc = self.__dict__.get("_doc")
        if doc is None:
            doc = {"schema_version": self.schema_version, "run_id": self.run_id,
                   **{k: _plain(getattr(self, k)) for k in ("model", "dataset", "provenance", "performance",
                                                            "fairness", "explanations", "quality", "checks")}}
            object.__setattr__(self, "_doc", doc)
        return doc

    # -- data beside the document -------------------------------------------------------------------------
    def predictions(self) -> pd.DataFrame:
        """The per-sample predictions (a fresh copy each call; a stored file is read once)."""
        if self._predictions is None:
            if self.path is None:
                raise ValueError(NO_PREDICTIONS.format(run_id=self.run_id, why="none was attached"))
            try:
                frame = pd.read_parquet(self.path / "predictions.parquet")
            except FileNotFoundError:
                raise ValueError(NO_PREDICTIONS.format(run_id=self.run_id, why="no predictions.parquet")) from None
            object.__setattr__(self, "_predictions", frame)  # a stored run never changes once written
        return self._predictions.copy()

    def array_names(self) -> list[str]:
        if self._arrays is not None:
            return sorted(self._arrays)
        if self.path is None:
            return []
        return sorted(p.stem for p in (self.path / "arrays").glob("*.npz"))

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """One stored array file (e.g. ``attr_integrated_gradients``) as {key: ndarray}; never unpickles."""
        if self._arrays is not None:
            if name not in self._arrays:
                raise ValueError(UNKNOWN_ARRAY.format(run_id=self.run_id, name=name, have=self.array_names()))
            return dict(self._arrays[name])
        p = self.path / "arrays" / f"{name}.npz" if self.path is not None else None
        if p is None or not p.is_file():
            raise ValueError(UNKNOWN_ARRAY.format(run_id=self.run_id, name=name, have=self.array_names()))
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as exc:     # truncated or replaced (BadZipFile, EOFError, zlib), or pickled data refused
            raise ValueError(DAMAGED_ARRAY.format(run_id=self.run_id, name=name, path=p,
                                                  error=f"{type(exc).__name__}: {exc}")) from None

    def attributions(self, method: str) -> dict[str, np.ndarray]:
        """A method's attributions with ``sample_index``, ``sample_id`` and ``explained_class``."""
        return self.arrays(f"attr_{method}")

    # -- checks -------------------------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        """True when every policy check passed (False when there were none: nothing was certified)."""
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def checks_of(self, family: str) -> list[Check]:
        """The checks of one family, e.g. ``fairness.impact_ratio``."""
        return [c for c in self.checks if c.family == family]

    def checks_frame(self) -> pd.DataFrame:
        cols = ["id", "family", "subject", "group", "method", "value", "threshold", "comparison", "passed",
                "policy_key", "description", "note"]
        return pd.DataFrame([{k: c.to_dict()[k] for k in cols} for c in self.checks], columns=cols)

    # -- tables -------------------------------------------------------------------------------------------
    def _table_rows(self) -> Iterator[tuple[str, Any]]:
        yield "performance/per_class", self.performance.per_class
        for a in self.fairness.attributes:
            for t in FairnessAttribute.TABLES:
                yield f"fairness/{a.name}/{t}", getattr(a, t)
        probes = self.fairness.probes or {}
        if isinstance(probes.get("proxy"), list):
            yield "fairness/probes/proxy", probes["proxy"]
        gap = probes.get("gap")
        if isinstance(gap, dict):
            yield "fairness/probes/gap", gap.get("table", [])
            yield "fairness/probes/gap/summary", gap.get("summary", [])
        reasons = probes.get("reason_codes")
        if isinstance(reasons, dict):
            yield "fairness/probes/reason_codes", reasons.get("table", [])
            yield "fairness/probes/reason_codes/summary", reasons.get("summary", [])
            if isinstance(reasons.get("faithfulness"), dict):
                yield "fairness/probes/reason_codes/faithfulness", reasons["faithfulness"].get("table", [])
        mitigation = probes.get("mitigation")
        if isinstance(mitigation, dict):
            for attr, rows in (mitigation.get("by_attribute") or {}).items():
                if isinstance(rows, list):  # else {"skipped": why}
                    yield f"fairness/probes/mitigation/{attr}", rows
        cf = probes.get("counterfactual")
        if isinstance(cf, dict):
            for t in ("groups", "pairs"):
                if isinstance(cf.get(t), list):
                    yield f"fairness/probes/counterfactual/{t}", cf[t]
        for m, res in self.explanations.methods.items():
            for t, rows in res.tables.items():
                yield f"explanations/{m}/{t}", rows
        for i, probe in enumerate(self.explanations.shortcut_probes):
            name = (probe.get("summary") or {}).get("probe", str(i))
            yield f"explanations/shortcut/{name}", probe.get("table", [])
        for q, entry in self.quality.items():
            for t, rows in entry.tables.items():
                yield f"quality/{q}/{t}", rows

    def table_names(self) -> list[str]:
        """Every table of the result, as names :meth:`table` accepts."""
        return [name for name, _ in self._table_rows()]

    def table(self, name: str) -> pd.DataFrame:
        """One table by name (see :meth:`table_names`), as a DataFrame."""
        for n, rows in self._table_rows():
            if n == name:
                return _frame(rows)
        raise KeyError(UNKNOWN_TABLE.format(name=name, run_id=self.run_id, have=self.table_names()))

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the result as a DataFrame, by name."""
        return {n: _frame(rows) for n, rows in self._table_rows()}

    def per_class(self) -> pd.DataFrame:
        return _frame(self.performance.per_class)

    def fairness_table(self, kind: str, attribute: str | None = None) -> pd.DataFrame:
        """``groups``, ``disparities``, ``significance``, ``calibration`` or ``reliability``, one or all attributes."""
        if kind not in FairnessAttribute.TABLES:
            raise KeyError(f"unknown fairness table {kind!r}; tables: {list(FairnessAttribute.TABLES)}")
        attrs = [self.fairness.attribute(attribute)] if attribute is not None else self.fairness.attributes
        rows = [r for a in attrs for r in getattr(a, kind)]
        return _frame(rows)

    def groups(self, attribute: str | None = None) -> pd.DataFrame:
        return self.fairness_table("groups", attribute)

    def disparities(self, attribute: str | None = None) -> pd.DataFrame:
        return self.fairness_table("disparities", attribute)

    def significance(self, attribute: str | None = None) -> pd.DataFrame:
        return self.fairness_table("significance", attribute)

    def calibration(self, attribute: str | None = None) -> pd.DataFrame:
        return self.fairness_table("calibration", attribute)

    def reliability(self, attribute: str | None = None) -> pd.DataFrame:
        return self.fairness_table("reliability", attribute)

    def feature_importance(self, method: str) -> pd.DataFrame:
        return _frame(self.explanations.methods[method].tables.get("feature_importance"))

    def quality_table(self, name: str, table: str) -> pd.DataFrame:
        return _frame(self.quality[name].tables.get(table))

    # -- headline figures ---------------------------------------------------------------------------------
    def metric(self, name: str) -> float | None:
        """An overall performance metric, None when not computed (or not finite)."""
        v = self.performance.overall.get(name)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    def __repr__(self) -> str:
        n_failed = len(self.failed_checks())
        where = f", path={str(self.path)!r}" if self.path is not None else ""
        return (f"AuditResult(run_id={self.run_id!r}, model={self.model.name!r}, n_samples={self.dataset.n_samples}, "
                f"checks={len(self.checks)}, failed={n_failed}{where})")
