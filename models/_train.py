"""One seeded mini-batch training loop shared by the bundled models."""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch
from torch import nn

from deepaudit.models._common import set_seed

log = logging.getLogger(__name__)


def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
        lr: float, seed: int, weight_decay: float = 0.0, device: torch.device | str = "cpu",
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        class_weight: torch.Tensor | None = None) -> list[float]:
    """Train ``model`` with Adam and cross-entropy; return the mean loss per epoch.

    Shuffling and augmentation draw from one ``torch.Generator`` seeded with
    ``seed``, so the same seed on the same build gives the same weights.
    """
    set_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss(weight=None if class_weight is None else class_weight.to(device))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    history = []
    for epoch in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        total, count = 0.0, 0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            xb = X[idx]
            if augment is not None:
                xb = augment(xb, gen)
            xb, yb = xb.to(device), y[idx].to(device)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        sched.step()
        history.append(total / max(count, 1))
        log.info("epoch %d/%d loss %.4f", epoch + 1, epochs, history[-1])
    model.eval()
    return history


def as_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=dtype)


def train_main(argv: list[str] | None, *, doc: str, names: list[str], default_out, smoke_help: str,
               train: Callable[..., dict]) -> dict:
    """The command line every ``models/<domain>/train.py`` shares.

    ``train(name, out_dir=, seed=, smoke=, device=)`` does the domain's work.
    """
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(description=doc)
    p.add_argument("name", nargs="?", default=names[0], choices=names)
    p.add_argument("--out", type=Path, default=default_out)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--smoke", action="store_true", help=smoke_help)
    args = p.parse_args(argv)
    return train(args.name, out_dir=args.out, seed=args.seed, smoke=args.smoke, device=args.device)


def run_as_script(main: Callable[[], dict]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meta = main()
    print({k: meta[k] for k in ("name", "metrics", "sha256")})
