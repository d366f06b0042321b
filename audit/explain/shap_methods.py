"""Adapter over shap.

Images and tabular rows: ``shap.GradientExplainer`` (expected gradients) with a
seeded background sample of the evaluation inputs. DeepExplainer is not used:
its PyTorch hooks do not cover every layer type a user model may hold, while
GradientExplainer only needs gradients. Text: shap's Partition explainer with
a ``shap.maskers.Text`` masker built on the target's own tokenizer, so that
shap's tokens are exactly the tokens the model reads; masked tokens are removed
from the string. Outputs are converted to tensors shaped like the inputs.

Nothing per call is kept on the explainer, so one instance may serve
concurrent calls. shap draws from the global numpy RNG only; each shap call
seeds it under a lock and puts the previous state back (see
:func:`_seeded_numpy`).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from audit.explain.base import Explainer, register_explainer
from audit.tokenizer import PAD_ID, UNK_ID

TOKEN_MISMATCH = ("shap returned {got} token values for text {index} but the tokenizer reads {want} tokens. "
                  "Fix: the target's tokenizer must be deterministic (tokens(text) with offsets).")
NO_RAW_TEXT = ("shap on text needs the raw strings: pass texts=[...] to attribute(), or explain rows of "
               "eval_data.inputs whose strings are in eval_data.raw.")
# Sentinel shap writes in place of masked tokens; stripped before the model sees the text.
MASK = "\u2063masked\u2063"
# Serialises shap calls: they share the global numpy RNG. Re-entrant, so a model that explains inside its
# own forward pass cannot deadlock.
_NUMPY_RNG = threading.RLock()


@contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    """Seed the global numpy RNG for one shap call and restore its previous state afterwards."""
    with _NUMPY_RNG:
        state = np.random.get_state()
        try:
            np.random.seed(seed % (2 ** 32))
            yield
        finally:
            np.random.set_state(state)


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
            return {"input_ids": [PAD_ID], "offset_mapping": [(0, len(s))]}
        out: dict[str, list] = {"input_ids": [self.vocab.stoi.get(t.text, UNK_ID) for t in toks]}
        if return_offsets_mapping:
            out["offset_mapping"] = [(t.start, t.end) for t in toks]
        return out


@register_explainer
class ShapExplainer(Explainer):
    """SHAP values. Options: ``n_samples`` (GradientExplainer, default 50), ``n_background``
    (default 32), ``max_evals`` (text, default 400). Text: ``attribute(..., texts=[...])`` gives the
    raw strings (default: looked up in ``eval_data.raw``)."""

    name = "shap"
    label = "SHAP"
    stochastic = True
    passes_option = "n_samples"
    default_passes = 50

    def attribute(self, inputs: torch.Tensor, *, target=None, texts: list[str] | None = None, **kw: Any):
        if not self.is_text():
            return super().attribute(inputs, target=target, **kw)
        texts = list(texts) if texts is not None else self._texts_for(inputs)
        if len(texts) != len(inputs):
            raise ValueError(f"texts has {len(texts)} entries for {len(inputs)} inputs. "
                             "Fix: pass one raw string per input row.")
        return self._attribute_chunks(inputs, target, kw, per_sample={"texts": texts})

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

    def _attribute(self, x, y, *, seed: int, texts: list[str] | None = None, n_samples: int = 50,
                   n_background: int = 32, max_evals: int = 400):
        import shap

        if self.is_text():
            with _seeded_numpy(seed):
                return self._text(texts, x, y, max_evals=max_evals, seed=seed).to(x.device)
        data = self.audit_target.eval_data.inputs
        background = data[torch.randperm(len(data), generator=self.generator(self.seed))[:n_background]].to(x.device)
        out = torch.zeros_like(x, dtype=torch.float32)
        for cls in torch.unique(y).tolist():
            rows = (y == cls).nonzero().flatten()
            explainer = shap.GradientExplainer(_SelectOutput(self.audit_target.model, cls), background)
            # shap seeds the global numpy RNG with rseed itself; _seeded_numpy puts the caller's state back.
            with _seeded_numpy(self.seed):
                vals = np.asarray(explainer.shap_values(x[rows], nsamples=n_samples, rseed=self.seed))
            out[rows] = torch.from_numpy(vals.reshape(x[rows].shape)).float().to(x.device)
        return out

    def _text(self, texts: list[str], x: torch.Tensor, y: torch.Tensor, *, max_evals: int,
              seed: int) -> torch.Tensor:
        import shap

        vocab = self.audit_target.tokenizer
        model = self.audit_target.model
        device = x.device

        def f(batch: Any) -> np.ndarray:
            with torch.no_grad():
                return model(vocab.encode([str(s).replace(MASK, " ") for s in batch]).to(device)).float().cpu().numpy()

        masker = shap.maskers.Text(_ShapTokenizer(vocab), mask_token=MASK, collapse_mask_token=True)
        explainer = shap.Explainer(f, masker, output_names=list(self.audit_target.class_names), seed=seed)
        out = torch.zeros(x.shape, dtype=torch.float32)
        for i, (text, cls) in enumerate(zip(texts, y.tolist())):
            values = np.asarray(explainer([text], max_evals=max_evals, silent=True).values[0])[:, cls]
            want = len(vocab.tokens(text))
            if len(values) != want:
                raise RuntimeError(TOKEN_MISMATCH.format(got=len(values), index=i, want=want))
            out[i, :want] = torch.from_numpy(values.astype(np.float32))
        return out
