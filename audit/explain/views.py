"""Global views computed from local attributions, as tidy DataFrames.

- :func:`feature_importance`: tabular mean |attribution| per feature with its direction.
- :func:`group_share` / :func:`feature_groups`: attribution share per feature group.
- :func:`class_average_maps`: per-class average saliency maps (images).
- :func:`region_share` / :func:`grid_regions`: attribution share per image region
  next to the region's area share (the primitive behind shortcut findings).
- :func:`token_ranking`: most positive / negative tokens over a corpus.
- :func:`token_attributions`: one text's attributions per token with character offsets.
- :func:`attribution_totals`: the sum and largest magnitude of one sample's attributions (the numbers a
  report's token heatmap prints and scales its colours by).

Shares use absolute attributions: "how much of the explanation lives here",
whatever its sign.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.tokenizer import PAD_ID

SHAPE_MISMATCH = "attributions have shape {attr} but {what} has shape {other}. Fix: pass arrays for the same samples."
EMPTY_MASK = "region {name!r} covers no element. Fix: give it at least one True entry."


def _np(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def feature_importance(attributions: Any, inputs: Any, feature_names: Sequence[str], *,
                       labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Mean |attribution| per feature, its share, signed mean and direction.

    ``direction`` is the sign of the Spearman correlation between a feature's
    value and its attribution over the samples: ``"higher raises"`` means higher
    values push the explained output up (NaN correlation where the feature is
    constant). Rows are sorted by ``mean_abs`` descending with a 1-based ``rank``.

    ``mean_abs_lo`` / ``mean_abs_hi`` are the 95% interval of ``mean_abs`` over the samples
    (:func:`deepaudit.audit.performance.mean_record`: ``mean_abs +/- z * sd(|a|) / sqrt(n)``, lower bound clipped at 0);
    NaN (stored as null) from a single sample.
    """
    # Imported here: deepaudit.audit.performance imports deepaudit.audit.fairness, whose reasons module imports this
    # one.
    from deepaudit.audit.performance import CONFIDENCE, mean_record

    a, x = _np(attributions).astype(np.float64), _np(inputs).astype(np.float64)
    if a.shape != x.shape or a.ndim != 2 or a.shape[1] != len(feature_names):
        raise ValueError(SHAPE_MISMATCH.format(attr=a.shape, what="inputs/feature_names",
                                               other=(x.shape, len(feature_names))))
    mean_abs = np.abs(a).mean(0)
    total = mean_abs.sum()
    bounds = [mean_record(np.abs(a[:, j]), float(mean_abs[j]), confidence=CONFIDENCE, lower=0.0)
              for j in range(a.shape[1])]
    lo = np.array([np.nan if b["lo"] is None else b["lo"] for b in bounds], dtype=np.float64)
    hi = np.array([np.nan if b["hi"] is None else b["hi"] for b in bounds], dtype=np.float64)
    corr = np.full(a.shape[1], np.nan)
    ra, rx = pd.DataFrame(a).rank().to_numpy(), pd.DataFrame(x).rank().to_numpy()
    for j in range(a.shape[1]):
        if ra[:, j].std() > 0 and rx[:, j].std() > 0:
            corr[j] = np.corrcoef(ra[:, j], rx[:, j])[0, 1]
    labels = labels or {}
    df = pd.DataFrame({
        "feature": list(feature_names),
        "label": [labels.get(f, labels.get(f.removesuffix("_missing"), f)) for f in feature_names],
        "mean_abs": mean_abs, "mean_abs_lo": lo, "mean_abs_hi": hi,
        "share": mean_abs / total if total > 0 else np.zeros_like(mean_abs),
        "mean": a.mean(0), "value_corr": corr,
        "direction": np.where(np.isnan(corr), "constant", np.where(corr >= 0, "higher raises", "higher lowers")),
    })
    df = df.sort_values(["mean_abs", "feature"], ascending=[False, True], kind="mergesort").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def feature_groups(feature_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Group a feature with its missing-value indicator (``x`` and ``x_missing`` -> ``x``)."""
    groups: dict[str, list[int]] = {}
    for j, f in enumerate(feature_names):
        groups.setdefault(f.removesuffix("_missing"), []).append(j)
    out = {}
    for g, idx in groups.items():
        m = np.zeros(len(feature_names), dtype=bool)
        m[idx] = True
        out[g] = m
    return out


def group_share(attributions: Any, masks: Mapping[str, Any]) -> pd.DataFrame:
    """Share of total |attribution| inside each mask, beside the mask's share of elements.

    ``masks`` map a name to a boolean array over the trailing dimensions of
    ``attributions`` (a feature mask for tabular rows, an (H, W) mask for
    images). ``ratio`` = attribution share / area share: 1 means the region
    gets exactly its size's worth of explanation.
    """
    a = np.abs(_np(attributions).astype(np.float64))
    per_sample_total = a.reshape(len(a), -1).sum(1)
    rows = []
    for name, mask in masks.items():
        m = _np(mask).astype(bool)
        if not m.any():
            raise ValueError(EMPTY_MASK.format(name=name))
        if a.shape[-m.ndim:] != m.shape:
            raise ValueError(SHAPE_MISMATCH.format(attr=a.shape, what=f"mask {name!r}", other=m.shape))
        inside = (a * m).reshape(len(a), -1).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(per_sample_total > 0, inside / per_sample_total, 0.0)
        area = float(m.mean())
        rows.append({"region": name, "attribution_share": float(share.mean()),
                     "attribution_share_median": float(np.median(share)), "area_share": area,
                     "ratio": float(share.mean()) / area, "n_samples": len(a)})
    return pd.DataFrame(rows)


def grid_regions(height: int, width: int, *, n: int = 3) -> dict[str, np.ndarray]:
    """An ``n x n`` grid of named image regions (``r0c0`` top-left ... )."""
    rows = np.array_split(np.arange(height), n)
    cols = np.array_split(np.arange(width), n)
    out = {}
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            m = np.zeros((height, width), dtype=bool)
            m[np.ix_(r, c)] = True
            out[f"r{i}c{j}"] = m
    return out


def class_average_maps(attributions: Any, classes: Any, class_names: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Average attribution map per class (channels summed): array (n_classes, H, W) and counts.

    Classes with no sample get an all-NaN map and ``n = 0``.
    """
    a = _np(attributions).astype(np.float64)
    a = a.sum(1) if a.ndim == 4 else a
    cls = _np(classes).astype(int)
    maps = np.full((len(class_names),) + a.shape[1:], np.nan)
    counts = np.bincount(cls, minlength=len(class_names))
    for c in np.nonzero(counts)[0]:
        maps[c] = a[cls == c].mean(0)
    return maps.astype(np.float32), pd.DataFrame({"class": list(class_names), "n": counts})


def token_ranking(attributions: Any, ids: Any, itos: Sequence[str], *, min_count: int = 3,
                  top: int = 20) -> pd.DataFrame:
    """Tokens with the most positive and most negative mean attribution over a corpus.

    Padding (``deepaudit.audit.tokenizer.PAD_ID``) is ignored; tokens seen fewer than ``min_count`` times are
    left out (a word seen once says nothing about the model). Returns the
    ``top`` of each side with columns side, rank, token, mean, total, count.
    """
    a, t = _np(attributions).astype(np.float64).ravel(), _np(ids).astype(np.int64).ravel()
    if a.shape != t.shape:
        raise ValueError(SHAPE_MISMATCH.format(attr=a.shape, what="ids", other=t.shape))
    keep = t != PAD_ID
    a, t = a[keep], t[keep]
    total = np.bincount(t, weights=a, minlength=len(itos))
    count = np.bincount(t, minlength=len(itos))
    ok = np.nonzero(count >= min_count)[0]
    df = pd.DataFrame({"token": [itos[i] for i in ok], "mean": total[ok] / count[ok], "total": total[ok],
                       "count": count[ok]})
    out = []
    for side, asc in (("positive", False), ("negative", True)):
        part = df[(df["mean"] > 0) if side == "positive" else (df["mean"] < 0)]
        part = part.sort_values(["mean", "token"], ascending=[asc, True], kind="mergesort").head(top).copy()
        part.insert(0, "rank", np.arange(1, len(part) + 1))
        part.insert(0, "side", side)
        out.append(part)
    return pd.concat(out, ignore_index=True)


def token_attributions(text: str, attribution_row: Any, tokenizer: Any) -> pd.DataFrame:
    """One text's attribution per token the model reads, with ``[start, end)`` offsets into ``text``."""
    toks = tokenizer.tokens(text)
    a = _np(attribution_row).astype(np.float64)
    return pd.DataFrame({"position": np.arange(len(toks)), "token": [t.text for t in toks],
                         "start": [t.start for t in toks], "end": [t.end for t in toks],
                         "attribution": a[:len(toks)]})


def attribution_totals(attributions: Any) -> dict[str, float]:
    """``{"attribution_sum", "max_abs"}`` of one sample's attributions (any shape; 0.0 for none).

    The report's token heatmaps print the sum (what the explanation adds up to) and scale colours by the
    largest magnitude; both are computed here so that the report only formats them.
    """
    a = _np(attributions).astype(np.float64).reshape(-1)
    return {"attribution_sum": float(a.sum()), "max_abs": float(np.abs(a).max()) if a.size else 0.0}
