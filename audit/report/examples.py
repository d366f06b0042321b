"""Representative local explanations: saliency overlays (vision) and token heatmaps (NLP).

The run store keeps attributions but not the raw inputs, so these need the
audit target's ``eval_data.raw`` (images, review texts) and, for text, its
tokenizer. Loading the target can fail (a user model that is not installed
here, a moved data file); the report then renders without examples and says
why in ``note``.

Which samples are shown is a pure function of the run (its seeded explained
subset and predictions), so a regenerated report shows the same ones.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

N_IMAGES = 6
N_REVIEWS = 3
#: Reviews outside this length (tokens) are shown only as a fallback: very short ones say little,
#: heatmaps of long ones do not fit a page.
MIN_REVIEW_TOKENS, MAX_REVIEW_TOKENS = 30, 140
TARGET_UNAVAILABLE = ("local examples omitted: the audit target {spec!r} could not be loaded here ({error}). "
                      "Fix: install the model's package (or run the report where the audit ran).")


@dataclass
class Examples:
    """``data`` goes into the JSON report; ``images`` (arrays for figures) does not."""

    data: dict[str, Any]
    images: list[dict[str, Any]] = field(default_factory=list)


def load_raw(result: dict[str, Any], target: Any = None) -> tuple[Any, Any, str]:
    """``(raw inputs, tokenizer, note)``; raw is None and note says why when the target cannot be loaded."""
    if target is None:
        spec = result["model"].get("spec") or result["model"]["name"]
        try:
            from audit import load_target

            target = load_target(spec, device="cpu")
        except Exception as exc:  # any failure of a user's factory must not stop the report
            log.warning("report: cannot load target %r: %s", spec, exc)
            return None, None, TARGET_UNAVAILABLE.format(spec=spec, error=f"{type(exc).__name__}: {exc}")
    return target.eval_data.raw, getattr(target, "tokenizer", None), ""


def _explained(run: Any, method: str) -> dict[str, np.ndarray]:
    return run.arrays(f"attr_{method}")


def _pick_images(pred: Any, idx: np.ndarray, n: int) -> list[int]:
    """Positions in the explained subset: misclassified first, then one per true class."""
    y, yhat = pred["y_true"].to_numpy()[idx], pred["y_pred"].to_numpy()[idx]
    picked = [i for i in range(len(idx)) if y[i] != yhat[i]][: n // 3]
    for c in sorted(set(y.tolist())):
        if len(picked) >= n:
            break
        first = next((i for i in range(len(idx)) if y[i] == c and i not in picked), None)
        if first is not None:
            picked.append(first)
    return picked[:n]


def vision_examples(run: Any, raw: Any, methods: list[str]) -> Examples:
    main = _explained(run, methods[0])
    idx = main["sample_index"]
    pred = run.predictions()
    classes = run.result["model"]["class_names"]
    picked = _pick_images(pred, idx, N_IMAGES)
    maps = {m: _explained(run, m)["attributions"] for m in methods}
    rows, images = [], []
    for i in picked:
        k = int(idx[i])
        p = pred.iloc[k]
        row = {"sample_id": int(main["sample_id"][i]), "true": classes[int(p["y_true"])],
               "predicted": classes[int(p["y_pred"])], "score": float(p["score"]),
               "explained_class": classes[int(main["explained_class"][i])], "methods": methods}
        rows.append(row)
        images.append({"image": np.asarray(raw[k], dtype=float),
                       "maps": {m: np.asarray(maps[m][i]).reshape(np.asarray(raw[k]).shape) for m in methods},
                       **row})
    return Examples({"kind": "saliency_overlays", "methods": methods, "samples": rows, "note": ""}, images)


def _segments(text: str, tokenizer: Any, attr: np.ndarray) -> list[dict[str, Any]]:
    """The review as a list of plain-text and token segments, so the heatmap keeps the original spacing."""
    from audit.explain.views import token_attributions

    out, pos = [], 0
    for t in token_attributions(text, attr, tokenizer).itertuples():
        if t.start > pos:
            out.append({"text": text[pos:t.start], "attribution": None})
        out.append({"text": text[t.start:t.end], "attribution": float(t.attribution)})
        pos = t.end
    return out


def text_examples(run: Any, raw: Any, tokenizer: Any, method: str) -> Examples:
    arr = _explained(run, method)
    idx, attr = arr["sample_index"], arr["attributions"]
    pred = run.predictions()
    classes = run.result["model"]["class_names"]
    cands = []
    for i, k in enumerate(idx):
        toks = tokenizer.tokens(raw[int(k)])
        p = pred.iloc[int(k)]
        fits = MIN_REVIEW_TOKENS <= len(toks) <= MAX_REVIEW_TOKENS
        cands.append((not fits, int(p["y_true"] != p["y_pred"]), len(toks), i, toks, p))
    # One correct prediction per class and one error, each the shortest that fits a page.
    wanted = [(False, c) for c in range(len(classes))] + [(True, None)]
    picked: list[tuple] = []
    for wrong, c in wanted:
        pool = sorted((x for x in cands if bool(x[1]) == wrong and (c is None or int(x[5]["y_true"]) == c)
                       and x not in picked), key=lambda x: (x[0], x[2], x[3]))
        if pool:
            picked.append(pool[0])
    rows = []
    for _, _, n_tok, i, toks, p in picked[:N_REVIEWS]:
        k = int(idx[i])
        text = raw[k]
        a = attr[i][: len(toks)]
        rows.append({"sample_id": int(arr["sample_id"][i]), "true": classes[int(p["y_true"])],
                     "predicted": classes[int(p["y_pred"])], "score": float(p["score"]),
                     "explained_class": classes[int(arr["explained_class"][i])], "n_tokens": n_tok,
                     "attribution_sum": float(a.sum()), "max_abs": float(np.abs(a).max()) if len(a) else 0.0,
                     "segments": _segments(text[: toks[-1].end] if toks else text, tokenizer, a)})
    return Examples({"kind": "token_heatmaps", "methods": [method], "samples": rows, "note": ""})


def local_examples(run: Any, *, target: Any = None) -> Examples:
    """Examples for the run's domain; an empty ``samples`` list with a ``note`` when they cannot be made."""
    result = run.result
    domain = result["model"]["domain"]
    methods = [m for m in result["explanations"].get("methods", {}) if f"attr_{m}" in run.array_names()]
    if domain not in ("vision", "nlp") or not methods:
        return Examples({"kind": "none", "methods": [], "samples": [], "note": ""})
    raw, tokenizer, note = load_raw(result, target)
    if raw is None:
        return Examples({"kind": "none", "methods": methods, "samples": [], "note": note})
    if domain == "vision":
        preferred = [m for m in ("integrated_gradients", "grad_cam", "saliency") if m in methods]
        return vision_examples(run, raw, preferred[:2] or methods[:2])
    if tokenizer is None:
        return Examples({"kind": "none", "methods": methods, "samples": [],
                         "note": "local examples omitted: the target has no tokenizer."})
    return text_examples(run, raw, tokenizer, "integrated_gradients" if "integrated_gradients" in methods
                         else methods[0])
