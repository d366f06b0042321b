"""A Hugging Face classifier's audit time per explained review vs SHAP's own Partition explainer.

Same model, same reviews, same process. Prints per review:

- deepaudit's whole audit of the model (``audit_target`` with defaults: IG and saliency with their quality
  checks, performance, cohort gaps, counterfactual probes) divided by the reviews it explains;
- deepaudit's IG alone (n_steps=50, batched) and deepaudit's SHAP (Partition over the model's tokenizer with its
  [MASK] token, max_evals=500);
- the reference: ``shap.Explainer(f, shap.maskers.Text(hf_tokenizer))`` as shap's documentation builds it for a
  transformers model (f tokenizes the masked strings and returns logits; the same max_evals), one review at a time.

The ratios printed are the reference's seconds per review over each of ours. The model is the bundled
``sentiment_bert`` (models/nlp/weights/sentiment_bert) unless --model-dir names another save_pretrained directory.

    .venv/bin/python benchmarks/hf_vs_shap.py [--reviews 20] [--model-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reviews", type=int, default=20)
    p.add_argument("--max-evals", type=int, default=500)
    p.add_argument("--model-dir", type=Path, default=ROOT / "models" / "nlp" / "weights" / "sentiment_bert")
    a = p.parse_args()

    import shap

    from deepaudit.audit.explain.base import make_explainer
    from deepaudit.audit.huggingface import from_huggingface
    from deepaudit.audit.runner import RunConfig, audit_target
    from deepaudit.audit.store import RunStore
    from deepaudit.audit.testing.zoo import huggingface_directory, reviews

    model_dir = a.model_dir if (a.model_dir / "config.json").is_file() else Path(huggingface_directory())
    ev = reviews(a.reviews, seed=11)
    texts, labels = list(ev.text), ev.label.to_numpy()
    target = from_huggingface(model_dir, texts, labels, pd.DataFrame({"source": ev.source.to_numpy()}),
                              favorable_label="positive", cohort_columns=["source"]).validate()
    n_params = sum(p.numel() for p in target.model.hf.parameters())
    print(f"model: {model_dir} ({target.model.hf.config.model_type}, {n_params:,} parameters), "
          f"{len(texts)} reviews, mean {np.mean([len(target.tokenizer.tokens(t)) for t in texts]):.0f} word pieces, "
          f"torch threads {torch.get_num_threads()}")
    x, cls = target.eval_data.inputs, target.logits().argmax(1)
    # Warm-up, untimed: shap's Partition explainer JIT-compiles its numba kernels on first use (~5-15 s),
    # which whichever ran first would otherwise pay.
    make_explainer("shap", target, seed=0, max_evals=50).attribute(x[:1], target=cls[:1], texts=texts[:1])

    t0 = time.perf_counter()
    make_explainer("integrated_gradients", target).attribute(x, target=cls, n_steps=50)
    ig = (time.perf_counter() - t0) / len(texts)

    t0 = time.perf_counter()
    make_explainer("shap", target, seed=0, max_evals=a.max_evals).attribute(x, target=cls, texts=texts)
    ours_shap = (time.perf_counter() - t0) / len(texts)

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = audit_target(target, RunConfig(progress=False, samples=len(texts)), store=RunStore(Path(tmp)))
        whole = (time.perf_counter() - t0) / len(texts)
    methods = ", ".join(result.explanations.methods)

    hf_model, hf_tok = target.model.hf, target.tokenizer.hf
    max_length = target.provenance["max_length"]

    def f(batch):
        enc = hf_tok([str(s) for s in batch], truncation=True, max_length=max_length, padding=True,
                     return_tensors="pt")
        with torch.no_grad():
            return hf_model(**enc).logits.numpy()

    explainer = shap.Explainer(f, shap.maskers.Text(hf_tok), output_names=target.class_names, seed=0)
    t0 = time.perf_counter()
    for text in texts:
        explainer([text], max_evals=a.max_evals, silent=True)
    reference = (time.perf_counter() - t0) / len(texts)

    print(f"{'':44s} s/review   reference / ours")
    print(f"{'shap Partition, HF tokenizer masker (ref)':44s} {reference:8.3f}")
    print(f"{'deepaudit SHAP (Partition, same masking)':44s} {ours_shap:8.3f}   {reference / ours_shap:6.1f}x")
    print(f"{'deepaudit IG (50 steps, batched)':44s} {ig:8.3f}   {reference / ig:6.1f}x")
    print(f"{'deepaudit whole audit (' + methods + ')':44s} {whole:8.3f}   {reference / whole:6.1f}x")


if __name__ == "__main__":
    main()
