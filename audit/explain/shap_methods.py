"""Adapter over shap.

Images and tabular rows: expected gradients, the method of
``shap.GradientExplainer``, with a seeded background sample of the evaluation
inputs, computed by :func:`expected_gradients` in one batched pass with shap's
own random draws (shap loops over rows; a test keeps the two equal).
DeepExplainer is not used: its PyTorch hooks do not cover every layer type a
user model may hold, while expected gradients only need gradients. Text: shap's Partition explainer with
a ``shap.maskers.Text`` masker built on the target's own tokenizer, so that
shap's tokens are exactly the tokens the model reads; masked tokens are removed
from the string, or replaced one for one by the tokenizer's ``mask_token`` where
it has one (Hugging Face word pieces, :mod:`deepaudit.audit.huggingface`). Outputs are converted
to tensors shaped like the inputs.

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

from deepaudit.audit.explain.base import Explainer, register_explainer
from deepaudit.audit.tokenizer import PAD_ID, UNK_ID

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


def shap_draws(seed: int, n_rows: int, n_samples: int, n_background: int) -> tuple[np.ndarray, np.ndarray]:
    """The background index and interpolation point of each (row, sample) that shap's GradientExplainer
    draws after ``np.random.seed(seed)``: per row, per sample, ``np.random.choice(n_background)`` then
    ``np.random.uniform()``, read here from the same Mersenne Twister stream without a Python call per draw.

    Legacy ``choice(n)`` takes 32-bit words masked to the next power of two, rejecting values >= n
    (none when n is a power of two, and no word at all when n == 1); ``uniform()`` takes two words
    (53-bit double). ``tests/audit/test_expected_gradients.py`` checks this against the calls themselves.
    """
    total = n_rows * n_samples
    rs = np.random.RandomState(seed % (2 ** 32))
    _, key, pos, *_ = rs.get_state()
    bits = np.random.MT19937()
    bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": pos}}
    mask = (1 << max(0, int(n_background - 1).bit_length())) - 1
    if n_background <= 1 or mask == n_background - 1:
        per = 2 + (n_background > 1)        # no rejection: a fixed number of words per draw
        words = bits.random_raw(total * per).reshape(total, per).astype(np.uint64)
        index = (words[:, 0] & mask).astype(np.int64) if per == 3 else np.zeros(total, dtype=np.int64)
        a, b = words[:, per - 2] >> 5, words[:, per - 1] >> 6
    else:
        index, a, b = np.empty(total, dtype=np.int64), np.empty(total, np.uint64), np.empty(total, np.uint64)
        stream, at = bits.random_raw(3 * total + 64).tolist(), 0
        for i in range(total):
            while True:
                if at + 3 > len(stream):
                    stream, at = stream[at:] + bits.random_raw(total + 64).tolist(), 0
                v = stream[at] & mask
                at += 1
                if v < n_background:
                    break
            index[i], a[i], b[i] = v, stream[at] >> 5, stream[at + 1] >> 6
            at += 2
    t = (a.astype(np.float64) * 67108864.0 + b.astype(np.float64)) / 9007199254740992.0
    return index.reshape(n_rows, n_samples), t.reshape(n_rows, n_samples)


def expected_gradients(model: nn.Module, x: torch.Tensor, background: torch.Tensor, cls: int, *,
                       n_samples: int, seed: int) -> torch.Tensor:
    """SHAP values by expected gradients (Erion et al. 2021), shap's ``GradientExplainer`` in one pass.

    phi_i(x) = mean over k of (x_i - b_k,i) * d f_cls / d x_i at b_k + t_k (x - b_k), with
    background rows b_k and points t_k drawn exactly as shap draws them (:func:`shap_draws`) and
    the interpolated inputs formed in the same float32 operations; shap runs one row at a time,
    here every (row, sample) point goes through the model in one batched forward/backward pass.
    The numbers equal shap's to float32 rounding of the gradients (tests compare the two).
    """
    index, t = shap_draws(seed, len(x), n_samples, len(background))
    dev = x.device
    idx = torch.from_numpy(index).to(dev)
    base = background[idx]                                                       # (R, S, *shape)
    shape = (len(x), n_samples) + (1,) * (x.dim() - 1)
    t32 = torch.from_numpy(t).to(dev, torch.float32).reshape(shape)
    u32 = torch.from_numpy(1 - t).to(dev, torch.float32).reshape(shape)          # (1 - t) in float64 first
    points = (t32 * x.unsqueeze(1) + u32 * base).reshape((-1,) + tuple(x.shape[1:])).detach().requires_grad_()
    with torch.enable_grad():
        out = model(points)[:, cls]
        (grad,) = torch.autograd.grad(out.sum(), points)
    delta = (x.unsqueeze(1) - base).double()
    phi = (grad.reshape(delta.shape).double() * delta).mean(dim=1)
    return phi.float()


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

    def background(self, n_background: int, device: torch.device) -> torch.Tensor:
        """The seeded sample of ``n_background`` evaluation inputs that expected gradients draw from (the same
        for every chunk; :func:`deepaudit.audit.quality.completeness.attribution_completeness` reads it too)."""
        # Drawn once per explainer: a permutation of a million rows per 32-row chunk was most of SHAP's time.
        key = (n_background, str(device), id(self.audit_target.eval_data.inputs))
        cache = self.__dict__.setdefault("_backgrounds", {})
        if key not in cache:
            data = self.audit_target.eval_data.inputs
            cache.clear()
            cache[key] = data[torch.randperm(len(data), generator=self.generator(self.seed))[:n_background]].to(device)
        return cache[key]

    def _attribute(self, x, y, *, seed: int, texts: list[str] | None = None, n_samples: int = 50,
                   n_background: int = 32, max_evals: int = 400):
        if self.is_text():
            with _seeded_numpy(seed):
                return self._text(texts, x, y, max_evals=max_evals, seed=seed).to(x.device)
        background = self.background(n_background, x.device)
        out = torch.zeros_like(x, dtype=torch.float32)
        for cls in torch.unique(y).tolist():
            rows = (y == cls).nonzero().flatten()
            out[rows] = expected_gradients(self.audit_target.model, x[rows], background, cls,
                                           n_samples=n_samples, seed=self.seed)
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

        own_mask = getattr(vocab, "mask_token", None)
        if own_mask:
            # A tokenizer with its own mask token (a Hugging Face model's [MASK]): a masked word piece is replaced
            # by it, one per piece, as shap does with such tokenizers; removing a piece would re-split its word.
            masker = shap.maskers.Text(_ShapTokenizer(vocab), mask_token=own_mask, collapse_mask_token=False)
        else:
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
