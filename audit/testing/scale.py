"""A synthetic portfolio of any size for the scale benchmark and tests (``benchmarks/scale.py``).

20 numeric features, a 64-32 MLP, sensitive ``race`` (4 groups, 2 minorities) and ``sex``; the approval
depends on the features, and one feature is shifted for one minority (so there is a gap to find). The model is
trained for a second on rows of its own (:func:`mlp`); it is the same at every size. Rows are generated in
blocks from per-block seeds, so row ``i`` is the same whatever ``n`` is (a 10k portfolio is the first 10k rows
of the 1M one).
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.target import AuditTarget, EvalData

N_FEATURES = 20
BLOCK = 65_536
RACES = np.array(["white", "black", "hispanic", "asian"])
RACE_P = [0.7, 0.12, 0.12, 0.06]


def _block(b: int, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, b])
    race = RACES[rng.choice(4, size=rows, p=RACE_P)]
    sex = np.where(rng.random(rows) < 0.45, "female", "male")
    x = rng.standard_normal((rows, N_FEATURES)).astype(np.float32)
    x[race == "black", 3] -= 0.8           # a feature associated with a minority: a gap the audit must find
    logit = x[:, :6] @ np.linspace(1.0, 0.3, 6).astype(np.float32) + 0.4
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y, race, sex


def portfolio(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """``n`` rows: features (float32), labels (1 = approve), groups (race, sex)."""
    parts = [_block(b, min(BLOCK, n - b * BLOCK), seed) for b in range(-(-n // BLOCK))]
    x = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, N_FEATURES), np.float32)
    y = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    groups = pd.DataFrame({"race": np.concatenate([p[2] for p in parts]) if parts else [],
                           "sex": np.concatenate([p[3] for p in parts]) if parts else []})
    return x, y, groups


def mlp(seed: int = 0, *, steps: int = 150) -> nn.Module:
    """A 64-32 MLP trained briefly (full-batch Adam, ``steps`` steps, about a second) on 8,192 rows of the
    portfolio's own seed. The benchmark measures the audit, not training; a model that fits its data keeps
    every stage's work realistic (denials to give reasons for, gaps to decompose)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(N_FEATURES, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2))
    x, y, _ = portfolio(8192, seed + 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model.eval()


def scale_target(n: int | None = None, *, seed: int = 0) -> AuditTarget:
    """The synthetic portfolio as an audit target; ``n`` defaults to ``$DEEPAUDIT_SCALE_ROWS`` (else 10,000)."""
    n = int(os.environ.get("DEEPAUDIT_SCALE_ROWS", "10000")) if n is None else n
    x, y, groups = portfolio(n, seed)
    names = [f"x{i:02d}" for i in range(N_FEATURES)]
    return AuditTarget(
        name="scale_portfolio", domain="finance", task="synthetic approvals (scale benchmark)",
        class_names=["deny", "approve"], favorable_label="approve", model=mlp(seed),
        eval_data=EvalData(inputs=torch.from_numpy(x), labels=y, groups=groups),
        sensitive_columns=["race", "sex"], feature_names=names,
        baseline=torch.zeros(N_FEATURES),
        provenance={"recipe": "weights set from a seed, not trained", "dataset": f"synthetic portfolio, {n} rows"},
    ).validate()


def factory() -> AuditTarget:
    """``deepaudit run deepaudit/audit/testing/scale.py:factory`` (rows from ``$DEEPAUDIT_SCALE_ROWS``)."""
    return scale_target()
