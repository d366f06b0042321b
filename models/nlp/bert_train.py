"""Build and fine-tune ``sentiment_bert``: a small BERT-style Hugging Face classifier on the movie reviews.

Everything is made here, offline: a WordPiece tokenizer trained on the training split (``tokenizers``), a
BERT model built from a config (``transformers``; random initialisation, no hub), trained on the training
split and saved with ``save_pretrained`` (config.json, model.safetensors, tokenizer.json) so that
``deepaudit.audit.huggingface.from_huggingface(DIR, ...)`` audits it like any team's transformer.

    python -m deepaudit.models.nlp.bert_train [--out DIR] [--seed 0] [--smoke]

``--smoke`` (a few hundred reviews, a tiny config) takes seconds and is what the tests run;
the full recipe takes about a minute on a CUDA GPU (`--device cuda`) and well over half an hour on 2 CPU cores.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from deepaudit.audit.testing.hf import build_bert, fine_tune, train_wordpiece
from deepaudit.models._train import run_as_script, train_main
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


def train(*, out_dir: Path, seed: int = 0, smoke: bool = False, device: str = "auto", log=print) -> dict[str, Any]:
    """Train, save with save_pretrained into ``out_dir`` and write its ``model.json`` (registry metadata)."""
    from deepaudit.audit.device import resolve_device
    from deepaudit.models.nlp.bert import eval_rows, held_out_metrics, write_meta

    dev = resolve_device(device)
    torch.manual_seed(seed)
    s = data.load_split()
    train_df = s.train
    arch, recipe = dict(ARCH), dict(RECIPE, seed=seed, device=str(dev))
    if smoke:
        arch.update(SMOKE)
        train_df = train_df.sample(300, random_state=seed)
        recipe.update(epochs=1, batch_size=16)
    texts = list(train_df.text)
    tokenizer = train_wordpiece(texts, arch["vocab_size"], arch["max_length"])
    model = build_bert(arch, CLASS_NAMES).to(dev)
    fine_tune(model, tokenizer, texts, train_df.label.to_numpy(), epochs=recipe["epochs"],
              batch_size=recipe["batch_size"], lr=recipe["lr"], weight_decay=recipe["weight_decay"], seed=seed,
              max_length=arch["max_length"], log=log)
    model.cpu()
    metrics = held_out_metrics(model, tokenizer, max_length=arch["max_length"], rows=eval_rows().iloc[::10] if smoke
                               else None)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    meta = write_meta(out_dir, arch=arch, recipe=recipe, metrics=metrics, card=CARD, smoke=smoke)
    log(f"test accuracy {metrics['accuracy']:.4f} on {metrics['n_test']} reviews; saved to {out_dir}")
    return meta


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return train_main(argv, doc=__doc__, names=["sentiment_bert"], default_out=WEIGHTS_DIR,
                      smoke_help="300 reviews, a tiny config, 1 epoch: seconds, for tests",
                      train=lambda _name, **kw: train(**kw))


if __name__ == "__main__":
    run_as_script(main)
