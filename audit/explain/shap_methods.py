"""Adapter over shap.

Images and tabular rows: ``shap.GradientExplainer`` (expected gradients) with a
seeded background sample of the evaluation inputs. DeepExplainer is not used:
its PyTorch hooks do not cover every layer type a user model may hold, while
GradientExplainer only needs gradients. Text: shap's Partition explainer with
a ``shap.maskers.Text`` masker built on the target's own tokenizer, so that
shap's tokens are exactly the tokens the model reads; masked tokens are removed
from the string. Outputs are converted to tensors shaped like the inputs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from audit.explain.base import Explainer, register_explainer

TOKEN_MISMATCH = ("shap returned {got} token values for text {index} but the tokenizer reads {want} tokens. "
                  "Fix: the target's tokenizer must be deterministic (tokens(text) with offsets).")
NO_RAW_TEXT = ("shap on text needs the raw strings: pass texts=[...] to attribute(), or explain rows of "
               "eval_data.inputs whose strings are in eval_data.raw.")
# Sentinel shap writes in place of masked tokens; stripped before the model sees the text.
MASK = "\u2063masked\u2063"


class _SelectOutput(nn.Module):
    """One logit of a classifier, so that shap computes only the class being explained."""

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.index:self.index + 1]


class _ShapTokenizer:
    """The minimal HuggingFace-style tokenizer shap's Text masker calls: ids and offsets."""

    def __init__(self, vocab: Any) -> None:
        self.vocab = vocab

    def __call__(self, s: str, return_offsets_mapping: bool = True, **_: Any) -> dict[str, list]:
        toks = self.vocab.tokens(s)
        if s == MASK:
            # shap asks for the mask token's id; masked tokens are removed before encoding.
            return {"input_ids": [0], "offset_mapping": [(0, len(s))]}
        out: dict[str, list] = {"input_ids": [self.vocab.stoi.get(t.text, 1) for t in toks]}
        if return_offsets_mapping:
            out["offset_mapping"] = [(t.start, t.end) for t in toks]
        return out


@register_explainer
class ShapExplainer(Explainer):
    """SHAP values. Options: ``n_samples`` (GradientExplainer, default 50), ``n_background``
    (default 32), ``max_evals`` (text, default 400)."""

    name = "shap"
    stochastic = True
    passes_option = "n_samples"
    default_passes = 50

    def attribute(self, inputs: torch.Tensor, *, target=None, texts: list[str] | None = None, **kw: Any):
        if self.is_text():
            self._texts = texts if texts is not None else self._texts_for(inputs)
            self._offset = 0
        return super().attribute(inputs, target=target, **kw)

    def _texts_for(self, inputs: torch.Tensor) -> list[str]:
        data = self.audit_target.eval_data
        if data.raw is None:
            raise ValueError(NO_RAW_TEXT)
        # Match inputs to eval rows by content, so any subset of eval inputs works.
        index = {tuple(row.tolist()): i for i, row in enumerate(data.inputs)}
        try:
            return [data.raw[index[tuple(row.tolist())]] for row in inputs]
        except KeyError:
            raise ValueError(NO_RAW_TEXT) from None

    def _attribute(self, x, y, *, n_samples: int = 50, n_background: int = 32, max_evals: int = 400, **_: Any):
        import shap

        if self.is_text():
            texts = self._texts[self._offset:self._offset + len(x)]
            self._offset += len(x)
            return self._text(texts, x, y, max_evals=max_evals).to(x.device)
        data = self.audit_target.eval_data.inputs
        g = torch.Generator().manual_seed(self.seed)
        background = data[torch.randperm(len(data), generator=g)[:n_background]].to(x.device)
        out = torch.zeros_like(x, dtype=torch.float32)
        for cls in torch.unique(y).tolist():
            rows = (y == cls).nonzero().flatten()
            explainer = shap.GradientExplainer(_SelectOutput(self.audit_target.model, cls), background)
            vals = np.asarray(explainer.shap_values(x[rows], nsamples=n_samples, rseed=self.seed))
            out[rows] = torch.from_numpy(vals.reshape(x[rows].shape)).float().to(x.device)
        return out

    def _text(self, texts: list[str], x: torch.Tensor, y: torch.Tensor, *, max_evals: int) -> torch.Tensor:
        import shap

        vocab = self.audit_target.tokenizer
        model = self.audit_target.model
        device = x.device

        def f(batch: Any) -> np.ndarray:
            with torch.no_grad():
                return model(vocab.encode([str(s).replace(MASK, " ") for s in batch]).to(device)).float().cpu().numpy()

        masker = shap.maskers.Text(_ShapTokenizer(vocab), mask_token=MASK, collapse_mask_token=True)
        explainer = shap.Explainer(f, masker, output_names=list(self.audit_target.class_names), seed=self.seed)
        out = torch.zeros(x.shape, dtype=torch.float32)
        for i, (text, cls) in enumerate(zip(texts, y.tolist())):
            values = np.asarray(explainer([text], max_evals=max_evals, silent=True).values[0])[:, cls]
            want = len(vocab.tokens(text))
            if len(values) != want:
                raise RuntimeError(TOKEN_MISMATCH.format(got=len(values), index=i, want=want))
            out[i, :want] = torch.from_numpy(values.astype(np.float32))
        return out
