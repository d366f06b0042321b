"""NLP model: ``sentiment``, a text CNN trained from scratch on movie reviews."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from deepaudit.models.nlp import data
from deepaudit.models.nlp.arch import TextCNN
from deepaudit.models.nlp.tokenizer import Vocabulary, token_texts
from deepaudit.models.registry import ModelEntry, register_model, run_card

WEIGHTS_DIR = Path(__file__).parent / "weights"
VOCAB_CHECKSUM = ("vocabulary file {path} does not match the sha256 recorded in the model metadata. "
                  "Fix: reinstall deepaudit, or re-train with `deepaudit train sentiment`.")


@lru_cache(maxsize=4)
def _load_vocab(path: str, sha256: str) -> Vocabulary:
    from deepaudit.models._common import sha256_file

    if sha256_file(path) != sha256:
        raise ValueError(VOCAB_CHECKSUM.format(path=path))
    return Vocabulary.from_json(json.loads(Path(path).read_text()))


def vocabulary(meta: dict[str, Any], weights_path: Path) -> Vocabulary:
    return _load_vocab(str(weights_path.with_name(meta["vocab_file"])), meta["vocab_sha256"])


def length_cohort(texts: Sequence[str], cuts: list[float], vocab: Vocabulary, *,
                  token_lists: Sequence[Sequence[str]] | None = None) -> pd.Categorical:
    n = np.array([len(t) for t in token_lists] if token_lists is not None else
                 [len(token_texts(t)) for t in texts])
    labels = np.where(n <= cuts[0], "short", np.where(n <= cuts[1], "medium", "long"))
    return pd.Categorical(labels, categories=["short", "medium", "long"])


def evaluate_with_vocab(model: torch.nn.Module, vocab: Vocabulary, device: torch.device, *,
                        every: int = 1) -> dict[str, Any]:
    """Held-out metrics (the model card's); ``every``: only every n-th test review (smoke runs)."""
    from deepaudit.models._common import predict_logits

    s = data.load_split()
    test = s.test.iloc[::every]
    pred = predict_logits(model, vocab.encode(list(test.text)), batch_size=256, device=device).argmax(1).numpy()
    correct = pred == test.label.to_numpy()
    metrics: dict[str, Any] = {"accuracy": float(correct.mean()), "n_test": int(len(correct)),
                               "n_correct": int(correct.sum())}
    for src in sorted(s.test.source.unique()):
        m = (test.source == src).to_numpy()
        metrics[f"accuracy_{src}"] = float(correct[m].mean())
        metrics[f"n_{src}"] = int(m.sum())
    return metrics


def evaluate(model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    from deepaudit.models.registry import get_weights

    w = get_weights("sentiment")
    return evaluate_with_vocab(model, vocabulary(w.meta, w.path), device)


def make_target(entry: ModelEntry, *, device: torch.device):
    from deepaudit.audit.target import AuditTarget, EvalData
    from deepaudit.models.registry import get_model

    meta = entry.weights.meta
    vocab = vocabulary(meta, entry.weights.path)
    s = data.load_split()
    texts = list(s.test.text)
    token_lists = [token_texts(t) for t in texts]
    groups = pd.DataFrame({"source": s.test.source.to_numpy(),
                           "review_length": length_cohort(texts, meta["length_cuts"], vocab,
                                                          token_lists=token_lists)})
    return AuditTarget(
        name=entry.name, domain="nlp", task=meta["task"], class_names=meta["class_names"],
        favorable_label=meta["favorable_label"], model=get_model(entry.name, device=device),
        eval_data=EvalData(inputs=vocab.encode_token_texts(token_lists), labels=s.test.label.to_numpy(), groups=groups,
                           raw=texts, sample_ids=s.test["index"].to_numpy()),
        cohort_columns=list(meta["cohorts"]), preprocess=vocab.encode, tokenizer=vocab,
        embedding_layer="embedding", baseline=torch.zeros(vocab.max_tokens, dtype=torch.long),
        provenance={k: meta[k] for k in ("data_sha256", "source_sha256", "recipe", "metrics", "vocab_sha256")}
        | {"weights_sha256": meta["sha256"], "card": run_card(meta), "dataset": meta["dataset"]},
    )


def _build(meta: dict[str, Any]) -> TextCNN:
    a = meta["architecture"]
    return TextCNN(a["vocab_size"], dim=a["dim"], filters=a["filters"], widths=tuple(a["widths"]),
                   num_classes=len(meta["class_names"]), embed_dropout=a.get("embed_dropout", 0.0))


register_model("sentiment", domain="nlp", weights=WEIGHTS_DIR / "sentiment.safetensors", target=make_target,
               evaluate=evaluate, train="deepaudit.models.nlp.train")(_build)

# The second NLP model, a Hugging Face transformer (registered by importing its module).
from deepaudit.models.nlp import bert  # noqa: E402,F401
