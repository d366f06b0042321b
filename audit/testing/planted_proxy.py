"""Targets with a planted proxy: a feature that encodes minority status and acts only on the minority.

The flaw the proxy check must catch (issue 15): a feature set for part of a minority group and zero for
everyone else, which the model penalises. Most rows get zero attribution from it (their value equals the
baseline's), so its global importance rank is low, yet it is the first reason the minority is denied and the
largest driver of the minority's gap. Two builders:

- :func:`planted_proxy_target`: synthetic rows with known weights (no training), and a decoy feature that is
  just as associated with the group but that the model ignores (it must not be flagged).
- :func:`planted_on_mortgage`: a copy of the bundled mortgage target (real HMDA data) with a column appended
  for about half of the black applicants and a model that subtracts ``penalty`` from the approval logit where
  it is set (the bundled network is untouched on every other column).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.target import AuditTarget, EvalData

PLANTED = "zip_cluster"
DECOY = "decoy_flag"


class _Linear(nn.Module):
    def __init__(self, weights: torch.Tensor, bias: float) -> None:
        super().__init__()
        self.lin = nn.Linear(len(weights), 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.stack([-weights / 2, weights / 2]))
            self.lin.bias.copy_(torch.tensor([-bias / 2, bias / 2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def planted_proxy_target(n: int = 2000, *, n_features: int = 12, minority_share: float = 0.1,
                         planted_share: float = 0.4, penalty: float = 4.0, seed: int = 0) -> AuditTarget:
    """Synthetic applications: ``n_features`` legitimate features (weights 0.6..1.2), the planted proxy (set for
    ``planted_share`` of the minority "B", weight ``-penalty``) and a decoy (set for the same share of "B",
    weight 0). Approval = class "approve"; groups ``group`` ("A" majority, "B" minority)."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < minority_share, "B", "A")
    legit = rng.standard_normal((n, n_features))
    planted = ((group == "B") & (rng.random(n) < planted_share)).astype(np.float32)
    decoy = ((group == "B") & (rng.random(n) < planted_share)).astype(np.float32)
    x = np.column_stack([legit, planted, decoy]).astype(np.float32)
    w = np.r_[np.linspace(0.6, 1.2, n_features), -penalty, 0.0].astype(np.float32)
    model = _Linear(torch.from_numpy(w), bias=0.5).eval()
    inputs = torch.from_numpy(x)
    with torch.no_grad():
        p = torch.softmax(model(inputs), 1)[:, 1].numpy()
    labels = (rng.random(n) < p).astype(int)
    names = [f"f{i}" for i in range(n_features)] + [PLANTED, DECOY]
    return AuditTarget(
        name="planted_proxy", domain="finance", task="synthetic approvals with a planted minority proxy",
        class_names=["deny", "approve"], favorable_label="approve", model=model,
        eval_data=EvalData(inputs=inputs, labels=labels, groups=pd.DataFrame({"group": group})),
        sensitive_columns=["group"], feature_names=names,
        baseline=torch.from_numpy(np.median(x, axis=0).astype(np.float32)),
        provenance={"recipe": "closed form, not trained", "feature_labels": {PLANTED: "zip-code cluster"}},
    ).validate()


class _PlantedOnTop(nn.Module):
    def __init__(self, base: nn.Module, favourable: int, penalty: float) -> None:
        super().__init__()
        self.base, self.favourable, self.penalty = base, favourable, penalty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x[:, :-1])
        shift = torch.zeros_like(out)
        shift[:, self.favourable] = -self.penalty * x[:, -1]
        return out + shift


def planted_on_mortgage(base: AuditTarget, *, share: float = 0.5, penalty: float = 4.0,
                        group_column: str = "race", group: str = "black", seed: int = 0) -> AuditTarget:
    """The bundled mortgage target (``base``, loaded by the caller) with :data:`PLANTED` appended: 1 for
    ``share`` of the ``group`` applicants (seeded), 0 elsewhere, and ``penalty`` subtracted from the approval
    logit where it is 1."""
    data = base.eval_data
    rng = np.random.default_rng(seed)
    members = (data.groups[group_column] == group).to_numpy()
    flag = (members & (rng.random(len(members)) < share)).astype(np.float32)
    inputs = torch.cat([data.inputs.float(), torch.from_numpy(flag)[:, None]], 1)
    fav = base.class_names.index(base.favorable_label)
    model = _PlantedOnTop(base.model.cpu().eval(), fav, penalty).eval()
    labels = dict(base.provenance.get("feature_labels") or {}, **{PLANTED: "zip-code cluster"})
    baseline = None if base.baseline is None else torch.cat([base.baseline.float().reshape(-1).cpu(),
                                                              torch.zeros(1)])
    return AuditTarget(
        name="mortgage_planted_proxy", domain=base.domain, task=base.task + " (planted proxy)",
        class_names=list(base.class_names), favorable_label=base.favorable_label, model=model,
        eval_data=EvalData(inputs=inputs, labels=data.labels, groups=data.groups, raw=data.raw,
                           sample_ids=data.sample_ids),
        sensitive_columns=list(base.sensitive_columns), cohort_columns=list(base.cohort_columns),
        feature_names=list(base.feature_names) + [PLANTED], baseline=baseline,
        provenance={"feature_labels": labels, "recipe": "bundled mortgage model with a planted proxy"},
    ).validate()
