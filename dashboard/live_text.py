"""The live model of a run, and the live explanation of a review a user types.

:func:`run_target` loads the audit target a run was made from (through :class:`~deepaudit.dashboard.context.LiveModels`,
so once per process, and only for specs the operator vouched for) and says, in a note, when that cannot be
done or when the model here is not the one audited (weights or data hash differ). Only live features use it:
stored views read the run directory alone.

:func:`explain_text` explains one review the way the run explained its samples: the same method and
options (``run.explanations.methods[m].options``), the same explained class (the favorable
class of a binary model with one, else the predicted class: :func:`deepaudit.audit.runner.explained_classes`).
Integrated Gradients goes through :func:`deepaudit.audit.quality.ig_completeness` with the run's step count: that
is how a run computes the IG attributions it publishes, and it reports completeness (attributions sum vs
``F(x) - F(path start)``) at the cost of one extra forward pass. Trailing padding is dropped first when the
model provably ignores it (the counterfactual probe's rule), which is what keeps a 100-word review well
under a second on a CPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.explain import make_explainer
from deepaudit.audit.explain.views import token_attributions
from deepaudit.audit.fairness.counterfactual import trim_padding
from deepaudit.audit.quality import ig_completeness
from deepaudit.audit.quality.completeness import FLOOR_SHARE, MIN_DELTA
from deepaudit.audit.runner import explained_classes
from deepaudit.audit.store import Run

MAX_CHARS = 2000
EMPTY_TEXT = "Type or paste a review first: the text box is empty."
TOO_LONG = "The review has {n:,} characters; the limit is {limit:,}. Shorten it and press Explain again."
NOT_TEXT = "The model of this run takes no text input (domain {domain!r}); live explanations are for text models."
NO_ENCODER = "The model of this run has no preprocess/tokenizer, so a typed review cannot be turned into its input."
HASH_CHANGED = ("The model loaded here is not byte-identical to the audited one ({what} sha256 differs): "
                "live results may differ from the stored ones.")
TARGET_UNAVAILABLE = "Live features are unavailable: the model {spec!r} could not be loaded here ({error})."
PREFERRED = ("integrated_gradients", "saliency")


def run_target(ctx: Any, run: Run) -> tuple[Any | None, str]:
    """The run's audit target (or None) and a note: why it is missing, or that it changed since the run."""
    spec = live_spec(run)
    try:
        target = ctx.live.target(spec)
    except Exception as exc:  # a user's factory can fail in any way; the page must still render
        return None, TARGET_UNAVAILABLE.format(spec=spec, error=f"{type(exc).__name__}: {exc}")
    live = getattr(target, "provenance", {}) or {}
    audited = {"weights_sha256": run.provenance.weights_sha256, "data_sha256": run.provenance.data_sha256}
    changed = [what for what, key in (("weights", "weights_sha256"), ("data", "data_sha256"))
               if audited[key] and live.get(key) and audited[key] != live[key]]
    return target, HASH_CHANGED.format(what=" and ".join(changed)) if changed else ""


def validate_text(text: Any) -> str:
    """The error message for a review that cannot be explained ('' when it can)."""
    if not isinstance(text, str) or not text.strip():
        return EMPTY_TEXT
    if len(text) > MAX_CHARS:
        return TOO_LONG.format(n=len(text), limit=MAX_CHARS)
    return ""


def live_spec(run: Run) -> str:
    """The target spec the run was audited from (its model name when it recorded none)."""
    return run.model.spec or run.model.name


def live_method(run: Run) -> tuple[str, dict[str, Any]]:
    """The method a live explanation uses and its options, as recorded by the run."""
    methods = run.explanations.methods
    name = next((m for m in PREFERRED if m in methods), next(iter(methods), "integrated_gradients"))
    return name, dict(methods[name].options) if name in methods else {}


@dataclass
class LiveExplanation:
    """One explained review. ``tokens`` has columns position, token, start, end, attribution."""

    text: str
    method: str
    options: dict[str, Any]
    probabilities: dict[str, float]
    predicted: str
    explained: str
    tokens: pd.DataFrame
    completeness: dict[str, float] | None = None
    seconds: float = 0.0
    batch_size: int = 1      # texts explained in the same pass (deepaudit.dashboard.batching)


def _encode(target: Any, texts: list[str]) -> torch.Tensor:
    encode = target.preprocess or getattr(target.tokenizer, "encode", None)
    if encode is None:
        raise ValueError(NO_ENCODER)
    return encode(list(texts))


def explain_text(target: Any, text: str, *, method: str = "integrated_gradients",
                 options: dict[str, Any] | None = None) -> LiveExplanation:
    """Predict and explain ``text`` with ``target`` (validate it first with :func:`validate_text`)."""
    return explain_texts(target, [text], method=method, options=options)[0]


def explain_texts(target: Any, texts: list[str], *, method: str = "integrated_gradients",
                  options: dict[str, Any] | None = None) -> list[LiveExplanation]:
    """:func:`explain_text` for several texts in one batched pass; each answer is the one it gets alone.

    The texts are encoded together and trailing padding is dropped under the same rule as for one
    text (only when the model provably ignores it), so a short text may be padded to the longest of
    the batch: for such a model that changes its logits and attributions only by float32 rounding
    (tests/live/test_live_batching.py). IG's completeness is judged per text with that text's
    own floor, as :func:`deepaudit.audit.quality.ig_completeness` would judge it alone.
    """
    if infer_kind(target) != "text":
        raise ValueError(NOT_TEXT.format(domain=target.domain))
    if not texts:
        return []
    options = dict(options or {})
    t0 = time.perf_counter()
    n = len(texts)
    ids = _encode(target, texts)
    ids, short = trim_padding(target, ids, batch_size=n)
    probs = torch.softmax(short.logits(ids, batch_size=n).double(), 1).numpy()
    pred = probs.argmax(1)
    cls, _ = explained_classes(target, torch.from_numpy(pred))
    completeness: list[dict[str, float] | None] = [None] * n
    if method == "integrated_gradients" and set(options) <= {"n_steps"}:
        steps = int(options.get("n_steps", 50))
        res = ig_completeness(short, ids, cls, start_steps=steps, max_steps=steps, batch_size=n)
        attr = res.attributions
        for i, e in enumerate(res.tables["errors"].to_dict("records")):
            delta = float(e["logit"]) - float(e["path_start_logit"])
            # the floor ig_completeness uses for a batch of this one text
            floor = max(MIN_DELTA, FLOOR_SHARE * abs(delta))
            completeness[i] = {"logit": float(e["logit"]), "path_start_logit": float(e["path_start_logit"]),
                               "attribution_sum": float(e["attribution_sum"]), "abs_error": float(e["abs_error"]),
                               "relative_error": float(e["abs_error"]) / max(abs(delta), floor), "n_steps": steps}
    else:
        attr = make_explainer(method, short, **options).attribute(ids, target=cls)
    tokenizer = target.tokenizer
    classes = list(target.class_names)
    seconds = time.perf_counter() - t0
    out = []
    for i, text in enumerate(texts):
        row = attr[i].numpy().astype(np.float64)
        if tokenizer is not None and hasattr(tokenizer, "tokens"):
            tokens = token_attributions(text, row, tokenizer)
        else:  # no offsets: the attributions cannot be placed on the text
            tokens = pd.DataFrame(columns=["position", "token", "start", "end", "attribution"])
        out.append(LiveExplanation(
            text=text, method=method, options=options,
            probabilities={c: float(p) for c, p in zip(classes, probs[i])}, predicted=classes[int(pred[i])],
            explained=classes[int(cls[i])], tokens=tokens, completeness=completeness[i], seconds=seconds,
            batch_size=n))
    return out
