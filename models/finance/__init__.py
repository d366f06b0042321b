"""Finance model: ``mortgage``, an MLP over Boston HMDA applications."""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepaudit.models.finance import data
from deepaudit.models.finance import preprocess as prep
from deepaudit.models.finance.arch import MortgageMLP
from deepaudit.models.registry import ModelEntry, register_model, run_card

WEIGHTS_DIR = Path(__file__).parent / "weights"


def evaluate_with_spec(model: torch.nn.Module, spec: dict[str, Any], device: torch.device) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, roc_auc_score

    from deepaudit.models._common import predict_logits

    s = data.load_split()
    y = s.test[data.LABEL].to_numpy().astype(np.int64)
    prob = torch.softmax(predict_logits(model, prep.apply(s.test, spec), device=device), 1)[:, 1].double().numpy()
    pred = (prob >= 0.5).astype(np.int64)
    return {"roc_auc": float(roc_auc_score(y, prob)), "accuracy": float((pred == y).mean()),
            "n_test": int(len(y)), "n_correct": int((pred == y).sum()),
            "brier": float(brier_score_loss(y, prob)), "predicted_approval_rate": float(pred.mean()),
            "observed_approval_rate": float(y.mean())}


def evaluate(model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    from deepaudit.models.registry import get_weights

    return evaluate_with_spec(model, get_weights("mortgage").meta["preprocessing"], device)


def make_target(entry: ModelEntry, *, device: torch.device):
    from deepaudit.audit.target import AuditTarget, EvalData
    from deepaudit.models.registry import get_model

    meta = entry.weights.meta
    spec = meta["preprocessing"]
    s = data.load_split()
    x = prep.apply(s.test, spec)
    return AuditTarget(
        name=entry.name, domain="finance", task=meta["task"], class_names=meta["class_names"],
        favorable_label=meta["favorable_label"], model=get_model(entry.name, device=device),
        eval_data=EvalData(inputs=x, labels=s.test[data.LABEL].to_numpy().astype(np.int64),
                           groups=data.sensitive_frame(s.test), raw=s.test, sample_ids=s.test_idx),
        sensitive_columns=list(meta["sensitive_attributes"]), preprocess=partial(prep.apply, spec=spec),
        feature_names=list(spec["columns"]),
        # Baseline: the training population's median applicant (0 after standardising
        # would be the mean, which is distorted by heavy tails).
        baseline=torch.tensor(meta["baseline"], dtype=torch.float32),
        provenance={k: meta[k] for k in ("data_sha256", "source_sha256", "recipe", "metrics")}
        | {"weights_sha256": meta["sha256"], "card": run_card(meta), "dataset": meta["dataset"],
           # Labels, codes and flags from the codebook in models/finance/data.py (display only: the labels
           # recorded with the weights at training time name the same columns).
           "feature_labels": {k: data.FEATURES.get(k, v) for k, v in spec.get("labels", {}).items()},
           "feature_codes": {k: v for k, v in data.CODES.items() if k in spec["columns"]},
           "feature_flags": {k: v for k, v in data.FLAGS.items() if k in spec["columns"]},
           # Codebook values that mean "missing" (the what-if editor reads them as such).
           "feature_sentinels": {f["name"]: list(f.get("sentinels", [])) for f in spec["features"]
                                 if f.get("sentinels")},
           "baseline_description": meta["baseline_description"], "row_noun": "applicant"},
        # The training applications: the what-if editor's valid ranges.
        reference_rows=s.train,
    )


def _build(meta: dict[str, Any]) -> MortgageMLP:
    a = meta["architecture"]
    return MortgageMLP(a["in_features"], hidden=tuple(a["hidden"]), num_classes=len(meta["class_names"]),
                       dropout=a["dropout"])


register_model("mortgage", domain="finance", weights=WEIGHTS_DIR / "mortgage.safetensors", target=make_target,
               evaluate=evaluate, train="deepaudit.models.finance.train")(_build)
