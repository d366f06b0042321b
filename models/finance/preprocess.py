"""Tabular preprocessing fitted on the training split and stored (as JSON) with the weights.

Per feature: codebook sentinels -> missing; log1p for heavy-tailed amounts
(signed for net worth); median imputation with a missing indicator for
features that had missing training values; standardisation.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

MISSING_COLUMNS = ("applications are missing input column(s) {missing}. Fix: provide every feature the model "
                   "was trained on: {required}.")
NOT_NUMERIC = "input column {column!r} holds non-numeric values (e.g. {example!r}). Fix: encode it as a number."
NOT_FRAME = "applications must be a pandas DataFrame (or a dict for one row), got {type}."


def _transform(values: np.ndarray, name: str, spec: dict[str, Any]) -> np.ndarray:
    v = values.astype(np.float64, copy=True)
    for s in spec.get("sentinels", []):
        v[v == s] = np.nan
    if spec["transform"] == "log1p":
        v = np.log1p(np.clip(v, 0, None))
    elif spec["transform"] == "signed_log1p":
        v = np.sign(v) * np.log1p(np.abs(v))
    return v


def fit(train: pd.DataFrame, features: list[str], *, sentinels: dict[str, list[float]],
        log_features: list[str], signed_log_features: list[str]) -> dict[str, Any]:
    """Learn the preprocessing spec from the training rows."""
    spec: dict[str, Any] = {"features": [], "columns": []}
    for name in features:
        f = {"name": name, "sentinels": sentinels.get(name, []),
             "transform": "log1p" if name in log_features else
             "signed_log1p" if name in signed_log_features else "identity"}
        v = _transform(train[name].to_numpy(), name, f)
        f["median"] = float(np.nanmedian(v))
        f["missing_indicator"] = bool(np.isnan(v).any())
        filled = np.where(np.isnan(v), f["median"], v)
        f["mean"], f["std"] = float(filled.mean()), float(filled.std() or 1.0)
        spec["features"].append(f)
        spec["columns"].append(name)
        if f["missing_indicator"]:
            spec["columns"].append(f"{name}_missing")
    return spec


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    """A column as float64; values that are present but not numbers are an error (missing ones become NaN)."""
    raw = pd.to_numeric(column, errors="coerce")
    bad = column[raw.isna() & column.notna()]
    if len(bad):
        raise ValueError(NOT_NUMERIC.format(column=name, example=bad.iloc[0]))
    return raw.to_numpy(dtype=np.float64)


def apply(rows: pd.DataFrame | dict, spec: dict[str, Any]) -> torch.Tensor:
    """Raw application rows -> standardised float32 tensor (N, len(spec['columns']))."""
    if isinstance(rows, dict):
        rows = pd.DataFrame([rows])
    if not isinstance(rows, pd.DataFrame):
        raise TypeError(NOT_FRAME.format(type=type(rows).__name__))
    required = [f["name"] for f in spec["features"]]
    missing = [c for c in required if c not in rows.columns]
    if missing:
        raise ValueError(MISSING_COLUMNS.format(missing=missing, required=required))
    block = rows[required]
    if all(isinstance(d, np.dtype) and d.kind in "biuf" for d in block.dtypes):
        # every column already numeric (the usual case): one conversion, no per-column pandas work, which
        # costs far more than the arithmetic for the few rows of a live what-if
        matrix = block.to_numpy(dtype=np.float64)
    else:
        matrix = np.column_stack([_numeric(block.iloc[:, j], name) for j, name in enumerate(required)]) \
            if required else np.empty((len(block), 0))
    cols = []
    for j, f in enumerate(spec["features"]):
        v = _transform(matrix[:, j], f["name"], f)
        isnan = np.isnan(v)
        cols.append((np.where(isnan, f["median"], v) - f["mean"]) / f["std"])
        if f["missing_indicator"]:
            cols.append(isnan.astype(np.float64))
    return torch.from_numpy(np.stack(cols, axis=1).astype(np.float32))
