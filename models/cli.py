"""The bundled models' commands of ``deepaudit``, contributed through the ``deepaudit.commands`` entry point.

    deepaudit models [--json]                      registered models and their cards
    deepaudit evaluate NAME... | --all [--json]    reproduce held-out metrics from shipped weights
    deepaudit train NAME [--out DIR] [--seed S]    re-train one model reproducibly

:func:`add_commands` only declares the subcommands; the registry, torch and the data load when one of
them runs, so other commands (``deepaudit list``, ``report``) start as fast as before.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("deepaudit")

EVALUATE_MISMATCH = (
    "deepaudit: a recomputed metric differs from the model card by more than float32 noise (rtol 1e-5; see "
    "audit/tolerance.py), or a count differs. That means the weights, the evaluation data or the preprocessing "
    "are not the ones the card was made with. Fix: reinstall deepaudit (or restore the weights file), and check "
    "the data package versions against the card's 'versions'.")
TRAIN_IDENTITY_NOTE = ("bit-identical weights are expected only with the same torch build, CPU kernels and thread "
                       "count the shipped weights were trained with (the card's 'versions'); on another CPU the "
                       "float32 training drifts in the last bits, so compare max_abs_weight_difference and "
                       "`deepaudit evaluate` instead.")


def _model_summary(name: str) -> dict[str, Any]:
    from deepaudit.models.registry import get_entry

    entry = get_entry(name)
    meta = entry.weights.meta
    return {"name": name, "domain": meta["domain"], "task": meta["task"], "dataset": meta["dataset"],
            "num_params": meta["num_params"], "metrics": meta["metrics"], "sha256": meta["sha256"],
            "data_sha256": meta["data_sha256"], "class_names": meta["class_names"],
            "favorable_label": meta["favorable_label"], "sensitive_attributes": meta["sensitive_attributes"],
            "cohorts": meta["cohorts"], "card": meta["card"], "recipe": meta["recipe"],
            "weights": str(entry.weights.path)}


def _headline(metrics: dict[str, Any]) -> str:
    key = "roc_auc" if "roc_auc" in metrics else "accuracy"
    return f"{key}={metrics[key]:.3f}"


def cmd_models(args: argparse.Namespace) -> int:
    from deepaudit.models.registry import list_models

    rows = [_model_summary(n) for n in list_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<20} {'domain':<8} {'params':>9}  {'held-out':<16} {'sha256':<14} task")
    for r in rows:
        print(f"{r['name']:<20} {r['domain']:<8} {r['num_params']:>9,}  {_headline(r['metrics']):<16} "
              f"{r['sha256'][:12]:<14} {r['task']}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from deepaudit.audit.device import resolve_device
    from deepaudit.audit.tolerance import compare_metrics
    from deepaudit.models.registry import get_entry, get_model, list_models

    names = list_models() if args.all else args.names
    if not names:
        raise ValueError("no model given. Fix: name one or more models (deepaudit models lists them), or pass --all.")
    device = resolve_device(args.device)
    results, ok = [], True
    for name in names:
        entry = get_entry(name)
        t0 = time.perf_counter()
        metrics = entry.evaluate(get_model(name, device=device), device)
        recorded = entry.weights.meta["metrics"]
        diffs = compare_metrics(metrics, recorded)
        same = not diffs
        ok &= same
        results.append({"name": name, "device": str(device), "metrics": metrics, "matches_card": same,
                        "differences": [d.to_dict() for d in diffs], "seconds": round(time.perf_counter() - t0, 3)})
        if not args.json:
            print(f"{name:<20} {_headline(metrics):<16} n_test={metrics['n_test']:<6} "
                  f"{'matches model card' if same else 'DIFFERS from model card'} "
                  f"({results[-1]['seconds']} s, {device})")
            for d in diffs:
                print(f"    {d.describe()}")
    if args.json:
        print(json.dumps(results, indent=2))
    elif not ok:
        print(EVALUATE_MISMATCH, file=sys.stderr)
    return 0 if ok else 1


def cmd_train(args: argparse.Namespace) -> int:
    from deepaudit.audit.weights import read_state_dict
    from deepaudit.models.registry import get_entry

    entry = get_entry(args.name)
    argv = [args.name, "--out", str(args.out), "--seed", str(args.seed), "--device", args.device]
    if args.smoke:
        argv.append("--smoke")
    meta = importlib.import_module(entry.train_module).main(argv)
    shipped = entry.weights.meta
    written = Path(args.out) / entry.weights.path.name
    identical = meta["sha256"] == shipped["sha256"]
    max_diff = _max_weight_difference(read_state_dict(written), entry.weights.state_dict())
    print(json.dumps({"name": args.name, "weights": str(written), "sha256": meta["sha256"], "metrics": meta["metrics"],
                      "identical_to_shipped_weights": identical, "max_abs_weight_difference": max_diff,
                      "note": TRAIN_IDENTITY_NOTE}, indent=2))
    if not identical and not args.smoke:
        log.warning("re-trained weights differ from the shipped ones (sha256 %s vs %s; largest weight difference "
                    "%s). %s", meta["sha256"][:12], shipped["sha256"][:12], max_diff, TRAIN_IDENTITY_NOTE)
    return 0


def _max_weight_difference(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Largest absolute difference over all tensors; None when the architectures differ (names or shapes)."""
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        return None
    return max((float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel()), default=0.0)


def add_commands(sub: Any) -> None:
    """Add ``models``, ``evaluate`` and ``train`` to the ``deepaudit`` subparsers (``deepaudit.commands``)."""
    m = sub.add_parser("models", help="list the bundled models and their cards")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_models)

    e = sub.add_parser("evaluate", help="reproduce the held-out metrics of shipped weights")
    e.add_argument("names", nargs="*")
    e.add_argument("--all", action="store_true")
    e.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("train", help="re-train one bundled model reproducibly")
    t.add_argument("name")
    t.add_argument("--out", type=Path, default=Path("deepaudit-weights"),
                   help="output directory (default ./deepaudit-weights; shipped weights are never overwritten)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--smoke", action="store_true", help="seconds-long run on a subset (for tests)")
    t.set_defaults(func=cmd_train)
