"""Representative local explanations: saliency overlays (vision) and token heatmaps (NLP).

The raw inputs (images, review texts and the tokens the model read) come from
the run directory (``arrays/display.npz``, :mod:`deepaudit.audit.display`), never from
loading the model: a report is built from data alone. A run without them (an
older run, a target without raw inputs) renders without examples and says why
in ``note``.

Which samples are shown is a pure function of the run (its seeded explained
subset and predictions), so a regenerated report shows the same ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepaudit.audit.display import Display, read_display

N_IMAGES = 6
N_REVIEWS = 3
#: Reviews outside this length (tokens) are shown only as a fallback: very short ones say little,
#: heatmaps of long ones do not fit a page.
MIN_REVIEW_TOKENS, MAX_REVIEW_TOKENS = 30, 140
@dataclass
class Examples:
    """``data`` goes into the JSON report; ``images`` (arrays for figures) does not."""

    data: dict[str, Any]
    images: list[dict[str, Any]] = field(default_factory=list)


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


def vision_examples(run: Any, display: Display, methods: list[str]) -> Examples:
    main = _explained(run, methods[0])
    idx = main["sample_index"]
    pred = run.predictions()
    classes = run.result["model"]["class_names"]
    shown = np.array([display.has(k) for k in idx], dtype=bool)
    maps = {m: _explained(run, m)["attributions"] for m in methods}
    rows, images = [], []
    for j in _pick_images(pred, idx[shown], N_IMAGES):
        i = int(np.flatnonzero(shown)[j])
        k = int(idx[i])
        p = pred.iloc[k]
        image = np.asarray(display.image(k), dtype=float)
        row = {"sample_id": int(main["sample_id"][i]), "true": classes[int(p["y_true"])],
               "predicted": classes[int(p["y_pred"])], "score": float(p["score"]),
               "explained_class": classes[int(main["explained_class"][i])], "methods": methods}
        rows.append(row)
        images.append({"image": image, "maps": {m: np.asarray(maps[m][i]).reshape(image.shape) for m in methods},
                       **row})
    return Examples({"kind": "saliency_overlays", "methods": methods, "samples": rows, "note": ""}, images)


def _segments(text: str, tokens: Any) -> list[dict[str, Any]]:
    """The review as a list of plain-text and token segments, so the heatmap keeps the original spacing."""
    out, pos = [], 0
    for t in tokens.itertuples():
        if t.start > pos:
            out.append({"text": text[pos:t.start], "attribution": None})
        out.append({"text": text[t.start:t.end], "attribution": float(t.attribution)})
        pos = t.end
    return out


def text_examples(run: Any, display: Display, method: str) -> Examples:
    """Token heatmaps of a few reviews; each sample's ``attribution_sum`` and ``max_abs`` (the colour scale) come
    from :func:`deepaudit.audit.explain.views.attribution_totals` on the stored attributions of the tokens the model
    read."""
    # Imported here: the report does not otherwise load torch.
    from deepaudit.audit.explain.views import attribution_totals

    arr = _explained(run, method)
    idx, attr = arr["sample_index"], arr["attributions"]
    pred = run.predictions()
    classes = run.result["model"]["class_names"]
    cands = []
    for i, k in enumerate(idx):
        if not display.has(k):
            continue
        n_tok = display.n_tokens(k)
        p = pred.iloc[int(k)]
        fits = MIN_REVIEW_TOKENS <= n_tok <= MAX_REVIEW_TOKENS
        cands.append((not fits, int(p["y_true"] != p["y_pred"]), n_tok, i, p))
    # One correct prediction per class and one error, each the shortest that fits a page.
    wanted = [(False, c) for c in range(len(classes))] + [(True, None)]
    picked: list[tuple] = []
    for wrong, c in wanted:
        pool = sorted((x for x in cands if bool(x[1]) == wrong and (c is None or int(x[4]["y_true"]) == c)
                       and x not in picked), key=lambda x: (x[0], x[2], x[3]))
        if pool:
            picked.append(pool[0])
    rows = []
    for _, _, n_tok, i, p in picked[:N_REVIEWS]:
        k = int(idx[i])
        text = display.text(k)
        tokens = display.token_attributions(k, attr[i])
        end = int(tokens["end"].iloc[-1]) if len(tokens) else len(text)
        rows.append({"sample_id": int(arr["sample_id"][i]), "true": classes[int(p["y_true"])],
                     "predicted": classes[int(p["y_pred"])], "score": float(p["score"]),
                     "explained_class": classes[int(arr["explained_class"][i])], "n_tokens": n_tok,
                     **attribution_totals(tokens["attribution"].to_numpy()),
                     "segments": _segments(text[:end], tokens)})
    return Examples({"kind": "token_heatmaps", "methods": [method], "samples": rows, "note": ""})


def local_examples(run: Any) -> Examples:
    """Examples drawn from what the run stored; an empty ``samples`` list with a ``note`` when there are none."""
    result = run.result
    domain = result["model"]["domain"]
    methods = [m for m in result["explanations"].get("methods", {}) if f"attr_{m}" in run.array_names()]
    if domain not in ("vision", "nlp") or not methods:
        return Examples({"kind": "none", "methods": [], "samples": [], "note": ""})
    display = read_display(run)
    if display.images is not None:
        preferred = [m for m in ("integrated_gradients", "grad_cam", "saliency") if m in methods]
        return vision_examples(run, display, preferred[:2] or methods[:2])
    if display.texts is not None and display.tokens is not None:
        return text_examples(run, display, "integrated_gradients" if "integrated_gradients" in methods
                             else methods[0])
    note = display.note or ("local examples omitted: the run stored its texts without the tokens the model "
                            "read (the target has no tokenizer).")
    return Examples({"kind": "none", "methods": methods, "samples": [], "note": f"local examples omitted: {note}"
                     if not note.startswith("local examples") else note})
