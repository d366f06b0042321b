"""The audit target: what a model must provide to be audited.

One protocol for bundled and user models alike (see docs/architecture.md). A user
names a target as ``path/to/file.py:factory`` wherever a target is expected
(``deepaudit describe|run path/to/file.py:factory``, ``load_target``) or installs an
entry point in the ``deepaudit.targets`` group; the factory returns an :class:`AuditTarget`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.device import resolve_device
from deepaudit.audit.weights import sha256_arrays, sha256_state_dict

log = logging.getLogger(__name__)

DOMAINS = ("vision", "nlp", "finance", "other")
ENTRY_POINT_GROUP = "deepaudit.targets"

NOT_A_MODULE = ("target {name!r}: model must be a torch.nn.Module returning logits, got {type}. "
                "Fix: pass the nn.Module itself.")
BAD_DOMAIN = ("target {name!r}: domain must be a short non-empty label (e.g. one of {domains}), got {domain!r}. "
              "Fix: describe the model's field in a word; what is computed follows from the data, not the label.")
BAD_CLASSES = "target {name!r}: class_names must be a non-empty list of distinct strings, got {value!r}."
BAD_FAVORABLE = ("target {name!r}: favorable_label {value!r} is not one of class_names {classes}. "
                 "Fix: use one of the class names, or None.")
NOT_EVAL_DATA = "target {name!r}: eval_data must be an deepaudit.audit.target.EvalData, got {type}."
EMPTY_DATA = "target {name!r}: the evaluation data is empty (0 samples). Fix: pass at least one sample."
INPUTS_NOT_TENSOR = ("target {name!r}: eval_data.inputs must be a torch.Tensor, got {type}. "
                     "Fix: run your preprocessing first.")
LENGTH_MISMATCH = ("target {name!r}: eval_data has {n_inputs} inputs but {what} has {n_other} rows. "
                   "Fix: give one {what} row per input, in the same order.")
NAN_INPUTS = ("target {name!r}: eval_data.inputs holds {count} non-finite values (NaN or inf), first in sample "
              "{first}. Fix: impute or drop those samples before auditing.")
LABEL_RANGE = ("target {name!r}: eval_data.labels must be integers in [0, {n}) for {n} classes, found {bad!r}. "
               "Fix: encode labels as class indices matching class_names.")
MISSING_COLUMN = ("target {name!r}: {kind} column {column!r} is not in eval_data.groups (columns: {columns}). "
                  "Fix: add it, or remove it from {kind}_columns.")
OUTPUT_SHAPE = ("target {name!r}: the model returned shape {got} for a batch of {batch} inputs, but logits of shape "
                "({batch}, {n}) were expected for {n} classes. Fix: return one logit per class; check class_names. "
                "A binary model with one logit z (a sigmoid output) can return torch.cat([torch.zeros_like(z), z], "
                "dim=1) with z of shape (batch, 1): softmax of that is (1 - sigmoid(z), sigmoid(z)).")
PROBABILITIES = ("target {name!r}: the model's outputs look like probabilities (every row of a batch of {batch} is "
                 "in [0, 1] and sums to 1), but deepaudit needs logits: it applies softmax itself, so probabilities "
                 "would be squashed a second time and every score, calibration and fairness number would be wrong. "
                 "Fix: return the logits (drop the final softmax), or return torch.log(probabilities) (the same "
                 "softmax).")
FLOAT64_MODEL = ("target {name!r}: the model's parameters are {dtype} ({example!r}) and it fails on float32 inputs "
                 "({error}); deepaudit's explainers and checks give the model float32 tensors. Fix: model.float() "
                 "(with float32 inputs), or cast inside forward (e.g. x = x.to(torch.float64)).")
EMBEDDING_BAG = ("target {name!r}: embedding_layer {layer!r} is an nn.EmbeddingBag, whose output is one vector per "
                 "bag, not one per token, so token attributions cannot be taken on it. Fix: use nn.Embedding followed "
                 "by the pooling (e.g. a masked mean), and name that nn.Embedding.")
SENSITIVE_ALL_MISSING = ("target {name!r}: sensitive column {column!r} has no known value in any of its {n} rows "
                         "(all missing, blank or 'unknown'), so no group could be compared. Fix: fill it in, or "
                         "remove it from sensitive_columns (a cohort column with no value is skipped and recorded).")
INT_INPUTS = ("target {name!r}: inputs are {dtype}, and gradient-based attributions need floating inputs, but the "
              "model fails on them cast to float32 ({error}). Fix: give float inputs, or, for token or category "
              "ids looked up in an embedding, set embedding_layer (attributions are then taken on the embedding).")
FORWARD_FAILED = ("target {name!r}: the model failed on a batch of eval_data.inputs with shape {shape}: {error}. "
                  "Fix: check that inputs are preprocessed to what the model expects.")
RESERVED_COLUMN = ("target {name!r}: eval_data.groups has a column named {column!r}, which the run's predictions "
                   "table uses for {use}; it would overwrite it. Fix: rename that column (e.g. 'group_{column}').")
#: Columns of predictions.parquet that groups columns are written beside; a group column must not shadow them.
RESERVED_COLUMNS = {"sample_id": "the sample id", "y_true": "the true label", "y_pred": "the predicted label",
                    "score": "the favourable-class score"}
RESERVED_PREFIX = "prob_"
BAD_LAYER = ("target {name!r}: {what} {layer!r} is not a submodule of the model. Fix: use one of the names "
             "from model.named_modules(), e.g. {examples}.")
BAD_SPEC = ("cannot load target {spec!r}: {reason}. Fix: use an installed target name ({available}; the bundled "
            "models and every 'deepaudit.targets' entry point), or path/to/file.py:factory.")
FACTORY_MISSING = ("cannot load target {spec!r}: {path} defines no callable {factory!r}. "
                   "Fix: name a function in that file.")
FACTORY_FAILED = ("target {spec!r}: {what} raised {error} at {where}. Fix: correct the code there (run "
                  "`deepaudit describe {spec}` to retry quickly).")
FACTORY_TYPE = ("target factory {spec!r} returned {type}, not an deepaudit.audit.target.AuditTarget. "
                "Fix: build and return AuditTarget(...) from the factory (see README, 'Audit your own model').")


def looks_like_probabilities(out: torch.Tensor) -> bool:
    """Whether model outputs are probabilities rather than logits: two or more classes and two or more different
    rows, every value in [0, 1] and every row summing to 1 (float32 rounding allowed). Varying logits do that only
    by coincidence, on every row at once; a constant output (a stub, a dead model) is never called probabilities."""
    if out.ndim != 2 or out.shape[1] < 2 or not out.is_floating_point() or len(out) < 2:
        return False
    out = out.detach().double()
    if bool((out == out[:1]).all()):
        return False
    return bool(((out >= 0) & (out <= 1)).all() and torch.allclose(out.sum(1), torch.ones(len(out), dtype=out.dtype),
                                                                    atol=1e-5, rtol=0))


def predict_logits(model: nn.Module, inputs: torch.Tensor, *, batch_size: int = 512,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Batched inference in eval mode; returns CPU float logits."""
    model.eval()
    out = []
    with torch.no_grad():
        if hasattr(inputs, "batches"):   # a RowSource (audit/rows.py): read in its own batches, then sub-batched
            for _, rows in inputs.batches():
                for start in range(0, len(rows), batch_size):
                    out.append(model(rows[start:start + batch_size].to(device)).float().cpu())
        else:
            for start in range(0, len(inputs), batch_size):
                out.append(model(inputs[start:start + batch_size].to(device)).float().cpu())
    if not out:
        return torch.empty(0)
    return torch.cat(out)


@dataclass
class EvalData:
    """Evaluation data of a target.

    Parameters
    ----------
    inputs : torch.Tensor or RowSource
        Model-ready inputs, one row per sample (preprocessed); a :class:`deepaudit.audit.rows.RowSource`
        reads them in batches from a dataset or a Parquet file instead of holding them in memory.
    labels : array of int
        True class index per sample.
    groups : DataFrame
        Sensitive attributes and cohorts, one row per sample. Missing values
        are allowed and are reported as an explicit "unknown" group.
    raw : object, optional
        The raw inputs (image array, list of texts, DataFrame of applications),
        for display and for re-running ``preprocess``.
    sample_ids : array, optional
        Stable identifiers; default ``0..n-1``.
    """

    inputs: Any   # torch.Tensor, or a deepaudit.audit.rows.RowSource
    labels: np.ndarray
    groups: pd.DataFrame | None = None
    raw: Any = None
    sample_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels)
        if self.groups is None or (len(self.groups.columns) == 0 and len(self.groups) == 0):
            self.groups = pd.DataFrame(index=range(len(self.labels)))
        if self.sample_ids is None:
            self.sample_ids = np.arange(len(self.labels))

    def __len__(self) -> int:
        return len(self.labels)


def group_sizes(target: "AuditTarget") -> dict[str, dict[str, int]]:
    """Rows per group of every sensitive and cohort column, missing values counted as ``"unknown"``."""
    out: dict[str, dict[str, int]] = {}
    g = target.eval_data.groups
    for col in dict.fromkeys(list(target.sensitive_columns) + list(target.cohort_columns)):
        counts = g[col].astype("object").where(g[col].notna(), "unknown").astype(str).value_counts()
        out[col] = {str(k): int(v) for k, v in sorted(counts.items())}
    return out


@dataclass(frozen=True)
class ArtifactProbe:
    """A candidate shortcut to test: stamp an artifact onto inputs, then measure
    how much attribution lands inside its region and how often predictions flip.

    Parameters
    ----------
    name : str
        Short identifier (``[a-z0-9_]``); the check is named ``shortcut_<name>``.
    region : Tensor of bool
        Where the artifact sits, shaped like one input (or its last two
        dimensions for images).
    stamp : callable
        Model-ready inputs -> the same inputs with the artifact applied.
    description : str
        What the artifact is, for the report.
    """

    name: str
    region: torch.Tensor
    stamp: Callable[[torch.Tensor], torch.Tensor]
    description: str = ""


@dataclass
class AuditTarget:
    """A model plus everything the audit needs to explain and assess it.

    Parameters
    ----------
    name, domain, task : str
        Identifier, a descriptive label (e.g. one of ``DOMAINS``; any short word is accepted: what the audit
        computes follows from the data and the parts given, see :mod:`deepaudit.audit.capabilities`), and a short task
        description.
    class_names : list of str
        One name per logit.
    favorable_label : str or None
        The outcome a person wants (e.g. ``"approved"``); None where no outcome
        is favourable (digit recognition).
    model : torch.nn.Module
        Returns logits of shape (batch, len(class_names)).
    eval_data : EvalData
    sensitive_columns, cohort_columns : list of str
        Columns of ``eval_data.groups`` that are protected attributes, and
        columns that are derived cohorts (analysed the same way, labelled as
        cohorts, never as protected groups).
    preprocess : callable, optional
        Raw input(s) -> model-ready tensor.
    feature_names : list of str, optional
        Tabular input names, one per input column.
    tokenizer : deepaudit.audit.tokenizer.Tokenizer, optional
        Text targets: ``itos``/``stoi`` (pad id 0, unk id 1), ``tokens(text)`` with character offsets and
        ``encode(texts)``; checked by :func:`deepaudit.audit.tokenizer.check_tokenizer`.
    baseline : torch.Tensor, optional
        Attribution baseline shaped like one input.
    gradcam_layer, embedding_layer : str, optional
        Dotted submodule names for Grad-CAM and text attributions.
    artifact_probes : list of ArtifactProbe
        Candidate shortcuts (e.g. a watermark) the audit tests for.
    provenance : dict
        weights and data sha256, training recipe, held-out metrics. Missing
        hashes are filled in by :meth:`validate`. Optional keys the audit and
        the dashboard read: ``card`` (the model card: ``intended_use``,
        ``out_of_scope``, ``limitations``, ``architecture``, ``training_data``,
        ``version``; stored with each run and shown in its report),
        ``dataset``, ``feature_labels`` ({column: label}), ``feature_ranges``
        ({column: [lo, hi]}), ``feature_sentinels`` ({column: [codes that
        mean missing]}), ``feature_codes`` ({column: {code: meaning}}) and
        ``feature_flags`` ({column: "geographic"}) for tabular inputs
        (:mod:`deepaudit.audit.features`).
    reference_rows : DataFrame, optional
        Raw rows the model was trained on, with the columns of
        ``eval_data.raw``: the reference for valid input values (the
        dashboard's what-if editor takes its ranges from them).
    data_kind : str, optional
        ``"tabular"``, ``"image"``, ``"text"`` or ``"other"``; inferred from the
        tokenizer and the input shape when not given (:mod:`deepaudit.audit.capabilities`).
    """

    name: str
    domain: str
    task: str
    class_names: list[str]
    favorable_label: str | None
    model: nn.Module
    eval_data: EvalData
    sensitive_columns: list[str] = field(default_factory=list)
    cohort_columns: list[str] = field(default_factory=list)
    preprocess: Callable[[Any], torch.Tensor] | None = None
    feature_names: list[str] | None = None
    tokenizer: Any = None
    baseline: torch.Tensor | None = None
    gradcam_layer: str | None = None
    embedding_layer: str | None = None
    artifact_probes: list[ArtifactProbe] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    reference_rows: pd.DataFrame | None = None
    #: "tabular", "image", "text" or "other"; None: inferred (:func:`deepaudit.audit.capabilities.infer_kind`)
    data_kind: str | None = None

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def submodule(self, dotted: str) -> nn.Module:
        """Resolve a dotted layer name such as ``features.conv4``."""
        try:
            return self.model.get_submodule(dotted)
        except AttributeError:
            examples = [n for n, _ in self.model.named_modules() if n][:4]
            raise ValueError(BAD_LAYER.format(name=self.name, what="layer", layer=dotted, examples=examples)) from None

    def logits(self, inputs: torch.Tensor | None = None, *, batch_size: int = 512) -> torch.Tensor:
        """Batched logits on the model's device, returned on the CPU."""
        inputs = self.eval_data.inputs if inputs is None else inputs
        out = predict_logits(self.model, inputs, batch_size=batch_size, device=self.device)
        return out if len(out) else torch.empty(0, len(self.class_names))

    def validate(self) -> "AuditTarget":
        """Check the protocol; raise ``TypeError``/``ValueError`` naming the problem and the fix.

        Also fills ``provenance['weights_sha256']`` and ``provenance['data_sha256']``
        when the target did not record them.
        """
        name = self.name
        if not isinstance(self.model, nn.Module):
            raise TypeError(NOT_A_MODULE.format(name=name, type=type(self.model).__name__))
        if not isinstance(self.domain, str) or not self.domain.strip() or len(self.domain) > 40:
            raise ValueError(BAD_DOMAIN.format(name=name, domain=self.domain, domains=DOMAINS))
        cn = self.class_names
        if (not isinstance(cn, (list, tuple)) or not cn or not all(isinstance(c, str) for c in cn)
                or len(set(cn)) != len(cn)):
            raise ValueError(BAD_CLASSES.format(name=name, value=cn))
        self.class_names = list(cn)
        if self.favorable_label is not None and self.favorable_label not in cn:
            raise ValueError(BAD_FAVORABLE.format(name=name, value=self.favorable_label, classes=list(cn)))
        from deepaudit.audit.features import Codebook

        try:  # the codebook's flags and codes are checked now, not when a report first reads them
            Codebook.from_provenance(self.provenance if isinstance(self.provenance, dict) else {})
        except ValueError as exc:
            raise ValueError(f"Target '{name}': {exc}") from None
        data = self.eval_data
        if not isinstance(data, EvalData):
            raise TypeError(NOT_EVAL_DATA.format(name=name, type=type(data).__name__))
        from deepaudit.audit.rows import RowSource

        streamed = isinstance(data.inputs, RowSource)
        if not isinstance(data.inputs, torch.Tensor) and not streamed:
            raise TypeError(INPUTS_NOT_TENSOR.format(name=name, type=type(data.inputs).__name__))
        n = len(data.inputs)
        if n == 0 or len(data.labels) == 0:
            raise ValueError(EMPTY_DATA.format(name=name))
        from deepaudit.audit.capabilities import check_kind, infer_kind, last_conv_layer

        check_kind(self)
        if self.gradcam_layer is None and infer_kind(self) == "image":
            # Grad-CAM's layer, when the target names none: the last convolution (recorded, so the report says it)
            self.gradcam_layer = last_conv_layer(self.model)
            if self.gradcam_layer:
                self.provenance = {**self.provenance, "gradcam_layer_found": self.gradcam_layer}
        for what, other in (("labels", data.labels), ("groups", data.groups), ("sample_ids", data.sample_ids)):
            if len(other) != n:
                raise ValueError(LENGTH_MISMATCH.format(name=name, n_inputs=n, what=what, n_other=len(other)))
        streamed_hash = None
        if streamed:
            # read in batches, never whole; when no cast follows, the same pass hashes the rows
            if "data_sha256" not in self.provenance and data.inputs.is_floating_point():
                streamed_hash = hashlib.sha256()
            count, first = data.inputs.non_finite(hash_into=streamed_hash)
            if count:
                raise ValueError(NAN_INPUTS.format(name=name, count=count, first=first))
        elif data.inputs.is_floating_point():
            finite = torch.isfinite(data.inputs.reshape(n, -1))
            if not bool(finite.all()):
                bad_rows = (~finite).any(dim=1).nonzero().flatten()
                raise ValueError(NAN_INPUTS.format(name=name, count=int((~finite).sum()), first=int(bad_rows[0])))
        labels = data.labels
        if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(cn):
            bad = labels[(labels < 0) | (labels >= len(cn))][:3] if labels.dtype.kind in "iuf" else labels[:3]
            raise ValueError(LABEL_RANGE.format(name=name, n=len(cn), bad=list(bad)))
        for col in data.groups.columns:
            use = RESERVED_COLUMNS.get(str(col)) or ("class probabilities" if str(col).startswith(RESERVED_PREFIX)
                                                     else None)
            if use:
                raise ValueError(RESERVED_COLUMN.format(name=name, column=col, use=use))
        for kind, cols in (("sensitive", self.sensitive_columns), ("cohort", self.cohort_columns)):
            for col in cols:
                if col not in data.groups.columns:
                    raise ValueError(MISSING_COLUMN.format(name=name, kind=kind, column=col,
                                                           columns=list(data.groups.columns)))
        from deepaudit.audit.fairness.groups import is_missing_label

        for col in self.sensitive_columns:
            if n and all(is_missing_label(v) for v in pd.unique(data.groups[col].dropna())):
                raise ValueError(SENSITIVE_ALL_MISSING.format(name=name, column=col, n=n))
        wide = next(((k, p.dtype) for k, p in self.model.named_parameters() if p.dtype == torch.float64), None)
        if wide is not None and data.inputs.is_floating_point():
            # a float64 model is fine when it casts what it is given (the explainers build float32 tensors)
            try:
                with torch.no_grad():
                    probe = data.inputs[:2]
                    self.model((probe.as_float() if streamed else probe.float()).to(self.device))
            except Exception as exc:
                raise ValueError(FLOAT64_MODEL.format(name=name, dtype=wide[1], example=wide[0], error=exc)) from None
        for what, layer in (("gradcam_layer", self.gradcam_layer), ("embedding_layer", self.embedding_layer)):
            if layer is not None:
                try:
                    self.model.get_submodule(layer)
                except AttributeError:
                    examples = [m for m, _ in self.model.named_modules() if m][:4]
                    raise ValueError(BAD_LAYER.format(name=name, what=what, layer=layer, examples=examples)) from None
        if self.embedding_layer is not None and isinstance(self.model.get_submodule(self.embedding_layer),
                                                           torch.nn.EmbeddingBag):
            raise ValueError(EMBEDDING_BAG.format(name=name, layer=self.embedding_layer))
        if self.tokenizer is not None:
            from deepaudit.audit.tokenizer import check_tokenizer

            try:
                check_tokenizer(self.tokenizer)
            except ValueError as exc:
                raise ValueError(f"target {name!r}: {exc}") from None
        self.model.eval()
        from deepaudit.audit.capabilities import infer_kind

        if infer_kind(self) in ("tabular", "image") and not data.inputs.is_floating_point():
            # Gradient methods need floating inputs; a model that casts inside takes float32 as well. Cast now,
            # with a note in the run, or say why not before any compute.
            cast = data.inputs.as_float() if streamed else data.inputs.float()
            try:
                with torch.no_grad():
                    self.model(cast[:2].to(self.device))
            except Exception as exc:
                raise ValueError(INT_INPUTS.format(name=name, dtype=data.inputs.dtype, error=exc)) from exc
            self.provenance["inputs_cast"] = (f"inputs given as {data.inputs.dtype} were cast to torch.float32 "
                                              "(gradient-based attributions need floating inputs)")
            data.inputs = cast
            if self.baseline is not None and not self.baseline.is_floating_point():
                self.baseline = self.baseline.float()
        # Batches of 1, 2 and 3 rows: a model whose output is right only for one batch size fails here, not in run.
        for k in dict.fromkeys(min(n, size) for size in (2, 1, 3)):
            batch = data.inputs[:k]
            try:
                with torch.no_grad():
                    out = self.model(batch.to(self.device))
            except Exception as exc:
                raise ValueError(FORWARD_FAILED.format(name=name, shape=tuple(batch.shape), error=exc)) from exc
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(batch), len(cn)):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(OUTPUT_SHAPE.format(name=name, got=got, batch=len(batch), n=len(cn)))
        if looks_like_probabilities(out):   # the last (largest) batch
            raise ValueError(PROBABILITIES.format(name=name, batch=len(out)))
        self.provenance.setdefault("weights_sha256", sha256_state_dict(self.model.state_dict()))
        if "data_sha256" not in self.provenance:
            if streamed_hash is not None:   # the rows were hashed during the finite check; the labels follow
                self.provenance["data_sha256"] = sha256_arrays(labels, into=streamed_hash)
            else:
                self.provenance["data_sha256"] = sha256_arrays(
                    data.inputs if streamed else data.inputs.cpu().numpy(), labels)
        return self


def _user_frames(frames: list[Any]) -> list[Any]:
    """Traceback frames in a user's code: not deepaudit's own (its bundled models included), not installed."""
    ours = Path(__file__).resolve().parent.parent
    return [f for f in frames if not Path(f.filename).resolve().is_relative_to(ours)
            and "site-packages" not in f.filename and not f.filename.startswith("<frozen")]


def _user_code_error(exc: BaseException, spec: str, what: str) -> ValueError:
    """A user's file or factory failed: name the innermost frame in user code (file and line), not ours."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    user = _user_frames(frames)
    frame = (user or frames or [None])[-1]
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
    else:
        where = f"{frame.filename}:{frame.lineno} (in {frame.name})" if frame else "an unknown place"
    return ValueError(FACTORY_FAILED.format(spec=spec, what=what, error=f"{type(exc).__name__}: {exc}",
                                            where=where))


def _call_factory(factory: Callable[..., Any], spec: str, device: torch.device) -> AuditTarget:
    params = inspect.signature(factory).parameters
    try:
        target = factory(device=device) if "device" in params else factory()
    except Exception as exc:
        import traceback

        if "Fix:" in str(exc) and not _user_frames(traceback.extract_tb(exc.__traceback__)):
            # Installed code (a bundled model's missing weights file, say) already said what to do: pass it on.
            raise
        raise _user_code_error(exc, spec, "the factory") from exc
    if not isinstance(target, AuditTarget):
        raise TypeError(FACTORY_TYPE.format(spec=spec, type=type(target).__name__))
    if "device" not in params:
        target.model.to(device)
    return target.validate()


def _plugins() -> dict[str, Any]:
    """Installed targets by name: every entry point of the ``deepaudit.targets`` group, the bundled models'
    (declared in deepaudit's own pyproject.toml) included. Where two distributions declare one name, the
    first found on ``sys.path`` wins and the other is named in a warning."""
    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            if found[ep.name].value != ep.value:
                log.warning("two %s entry points are named %r (%s and %s); using the first", ENTRY_POINT_GROUP,
                            ep.name, found[ep.name].value, ep.value)
            continue
        found[ep.name] = ep
    return found


def list_targets() -> list[str]:
    """Sorted names of the installed targets (``deepaudit run NAME``): the bundled models and user entry points."""
    return sorted(_plugins())


def _available(names: Any = None) -> str:
    names = sorted(_plugins() if names is None else names)
    return ", ".join(names) if names else "none is installed"


def _load_file_factory(spec: str) -> Callable[..., Any]:
    path_str, _, factory_name = spec.rpartition(":")
    path = Path(path_str)
    if not path.is_file():
        raise ValueError(BAD_SPEC.format(spec=spec, reason=f"file {path} does not exist",
                                         available=_available()))
    module_name = f"deepaudit_user_target_{abs(hash(str(path.resolve())))}"
    # The file's folder is importable, as for ``python file.py``: a target file may import the model class and
    # data code it keeps beside it (``from my_net import MyNet``), now or later inside the factory.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    mod_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[module_name] = module
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise _user_code_error(exc, spec, f"importing {path}") from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ValueError(FACTORY_MISSING.format(spec=spec, path=path, factory=factory_name))
    return factory


def is_installed_spec(spec: str) -> bool:
    """True for an installed target name (a bundled model or a ``deepaudit.targets`` entry point): names whose
    code the operator installed, as opposed to a file path (which, read from a stored run, could point anywhere)."""
    return isinstance(spec, str) and spec in _plugins()


def load_target(spec: str, *, device: str | torch.device = "auto") -> AuditTarget:
    """Resolve ``spec`` to a validated :class:`AuditTarget`.

    ``spec`` is the name of an entry point in the ``deepaudit.targets`` group (the bundled models are
    installed as such, see ``deepaudit models``) or ``path/to/file.py:factory``. The factory may accept a
    ``device`` keyword; otherwise the model is moved there.

    Examples
    --------
    >>> target = load_target("mortgage", device="cpu")  # doctest: +SKIP
    """
    dev = resolve_device(device)
    if spec.endswith(".py") or ".py:" in spec:
        if ":" not in spec.split(".py", 1)[1]:
            raise ValueError(BAD_SPEC.format(spec=spec, reason="no factory named after the file (file.py:factory)",
                                             available=_available()))
        return _call_factory(_load_file_factory(spec), spec, dev)
    plugins = _plugins()
    if spec in plugins:
        return _call_factory(plugins[spec].load(), spec, dev)
    raise ValueError(BAD_SPEC.format(spec=spec, reason="no installed target or file by that name",
                                     available=_available(plugins)))
