"""Hugging Face sequence classifiers as audit targets: :func:`from_huggingface`.

Any ``AutoModelForSequenceClassification`` with a fast tokenizer (offsets) is wrapped so that the rest of
deepaudit sees an ordinary text target (:mod:`deepaudit.audit.tokenizer`):

- :class:`HFTokenizer` speaks deepaudit's tokenizer contract over the model's own tokenizer. Its ids are the
  model's vocabulary re-numbered so that padding is 0 and the unknown token 1 (a permutation, inverted inside
  the model wrapper); ``tokens(text)`` are the word pieces the model reads, *without* special tokens, with
  character offsets from the tokenizer; texts are truncated to ``max_length`` minus the special tokens.
  Word pieces mean no word is out of vocabulary: a name the model never saw is read as its pieces.
- :class:`HFClassifier` takes those padded ids and calls the transformer the way its tokenizer would: the
  special tokens of the tokenizer's template (``[CLS] ... [SEP]``, ``<s> ... </s>``) around each text and an
  attention mask that covers the text and its special tokens, never the padding. Word pieces are embedded
  by the model's own input-embedding module, exposed as the wrapper's ``embeddings`` layer: layer
  attributions (IG, saliency, GradientSHAP) therefore cover the text's word pieces only; the special tokens'
  embeddings enter as constants (never attributed) and the padding is masked out of attention.
- Computation stops at the longest text of a batch, so padding costs nothing.

SHAP on these targets is shap's Partition explainer with a Text masker over this same tokenizer, masking a
word piece with the tokenizer's own mask token (``[MASK]``) where it has one.

Nothing is downloaded: a directory is loaded with ``local_files_only=True``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.tokenizer import PAD_ID, PAD_TOKEN, UNK_TOKEN

NOT_INSTALLED = ("auditing a Hugging Face model needs the `transformers` package. "
                 "Fix: pip install transformers (and tokenizers).")
NOT_FAST = ("tokenizer {type} is not a fast tokenizer, so it gives no character offsets for its tokens. "
            "Fix: load it with use_fast=True or save a tokenizer.json beside the model.")
NO_PAD = ("tokenizer {type} has no padding token, so texts of different lengths cannot share a batch. "
          "Fix: set tokenizer.pad_token (e.g. tokenizer.pad_token = tokenizer.eos_token) and save it.")
NOT_CLASSIFIER = ("{what} is not a sequence classifier (no config.num_labels or no logits output). "
                  "Fix: pass an AutoModelForSequenceClassification or the directory it was saved to.")
NO_EMBEDDINGS = ("model {type} exposes no input embeddings (get_input_embeddings() is None), so word-piece "
                 "attributions cannot be taken. Fix: use a model class that implements get_input_embeddings.")
NOT_FOUND = ("{path} is not a saved Hugging Face model (no config.json there). Fix: pass the directory "
             "given to model.save_pretrained(...) and tokenizer.save_pretrained(...); nothing is downloaded.")
BAD_TEXTS = "texts must be a list of str, got {type} at position {index}. Fix: pass one string per example."
CLASS_MISMATCH = ("class_names has {got} names but the model has {want} labels. "
                  "Fix: give one name per label, in label-id order (or omit it to use config.id2label).")


class Piece(NamedTuple):
    """One word piece the model reads: its vocabulary string and ``[start, end)`` offsets in the text."""

    text: str
    start: int
    end: int


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - transformers is a dependency
        raise ImportError(NOT_INSTALLED) from exc
    return transformers


class HFTokenizer:
    """deepaudit's tokenizer contract (:mod:`deepaudit.audit.tokenizer`) over a Hugging Face fast tokenizer.

    ``ours_to_hf[i]`` is the model's id of our id ``i``; padding and the unknown token take ids 0 and 1 and
    are named ``<pad>``/``<unk>`` in ``itos``. ``subword = True`` tells the contract check that no word is out
    of vocabulary. ``mask_token`` is the tokenizer's own mask token (None where it has none).
    """

    subword = True

    def __init__(self, hf_tokenizer: Any, *, max_length: int) -> None:
        if not getattr(hf_tokenizer, "is_fast", False):
            raise ValueError(NOT_FAST.format(type=type(hf_tokenizer).__name__))
        if hf_tokenizer.pad_token_id is None:
            raise ValueError(NO_PAD.format(type=type(hf_tokenizer).__name__))
        self.hf = hf_tokenizer
        vocab = hf_tokenizer.get_vocab()                       # token -> model id, added tokens included
        size = max(vocab.values()) + 1
        names = [""] * size
        for tok, i in vocab.items():
            names[i] = tok
        pad = hf_tokenizer.pad_token_id
        unk = hf_tokenizer.unk_token_id
        unk = unk if unk is not None and unk != pad else None
        rest = [i for i in range(size) if i not in (pad, unk)]
        if unk is None:  # a byte-level tokenizer never emits an unknown token: id 1 is a reserved, unused slot
            order = [pad, -1] + rest
        else:
            order = [pad, unk] + rest
        self.ours_to_hf = torch.tensor([pad if i < 0 else i for i in order], dtype=torch.long)
        self.hf_to_ours = np.zeros(size, dtype=np.int64)
        for ours, theirs in enumerate(order):
            if theirs >= 0:
                self.hf_to_ours[theirs] = ours
        itos = [PAD_TOKEN, UNK_TOKEN] + [names[i] or f"<id {i}>" for i in rest]
        seen: set[str] = set()
        for k, t in enumerate(itos):  # itos and stoi must be inverse: rename a duplicate (e.g. a literal "<pad>")
            if t in seen:
                itos[k] = f"{t}<id {order[k]}>"
            seen.add(itos[k])
        self.itos = itos
        self.stoi = {t: i for i, t in enumerate(itos)}
        prefix, suffix = _template(hf_tokenizer)
        self.prefix_ids, self.suffix_ids = prefix, suffix
        self.max_length = int(max_length)
        self.max_tokens = self.max_length - len(prefix) - len(suffix)
        if self.max_tokens < 1:
            raise ValueError(f"max_length={max_length} leaves no room for text after the {len(prefix) + len(suffix)} "
                             "special tokens. Fix: pass a larger max_length.")
        self.mask_token = hf_tokenizer.mask_token if hf_tokenizer.mask_token_id is not None else None

    def __len__(self) -> int:
        return len(self.itos)

    def _encode(self, texts: Sequence[str]) -> dict[str, Any]:
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(BAD_TEXTS.format(type=type(text).__name__, index=i))
        return self.hf(list(texts), add_special_tokens=False, truncation=True, max_length=self.max_tokens,
                       return_offsets_mapping=True, return_attention_mask=False)

    def tokens(self, text: str) -> list[Piece]:
        """The word pieces of ``text`` the model reads (special tokens excluded), with character offsets."""
        enc = self._encode([text])
        itos = self.itos
        return [Piece(itos[self.hf_to_ours[i]], int(a), int(b))
                for i, (a, b) in zip(enc["input_ids"][0], enc["offset_mapping"][0])]

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> our ids ``(len(texts), max_tokens)``, int64, padded with 0 after each text."""
        enc = self._encode(texts)
        out = np.zeros((len(texts), self.max_tokens), dtype=np.int64)
        for row, ids in enumerate(enc["input_ids"]):
            out[row, :len(ids)] = self.hf_to_ours[np.asarray(ids, dtype=np.int64)]
        return torch.from_numpy(out)


def _template(hf_tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special-token ids the tokenizer puts before and after a single text (e.g. [CLS] and [SEP])."""
    probe = hf_tokenizer.convert_tokens_to_ids(hf_tokenizer.pad_token)
    marker = -12345
    try:
        full = list(hf_tokenizer.build_inputs_with_special_tokens([marker]))
    except Exception:  # noqa: BLE001 - a tokenizer without a template: encode a one-token text instead
        full = None
    if full is None or full.count(marker) != 1:
        with_special = hf_tokenizer(hf_tokenizer.pad_token, add_special_tokens=True)["input_ids"]
        where = with_special.index(probe) if probe in with_special else len(with_special)
        return list(with_special[:where]), list(with_special[where + 1:])
    at = full.index(marker)
    return [int(i) for i in full[:at]], [int(i) for i in full[at + 1:]]


class HFClassifier(nn.Module):
    """Padded word-piece ids in deepaudit's numbering (0 = padding) -> the transformer's logits.

    ``embeddings`` is the transformer's own input-embedding module (shared, not copied): it embeds the text's
    word pieces and nothing else, so layer attributions on it cover exactly the text.
    """

    def __init__(self, hf_model: nn.Module, tokenizer: HFTokenizer) -> None:
        super().__init__()
        self.hf = hf_model
        emb = hf_model.get_input_embeddings()
        if emb is None:
            raise ValueError(NO_EMBEDDINGS.format(type=type(hf_model).__name__))
        self.embeddings = emb
        self.register_buffer("ours_to_hf", tokenizer.ours_to_hf.clone(), persistent=False)
        self.register_buffer("prefix_ids", torch.tensor(tokenizer.prefix_ids, dtype=torch.long), persistent=False)
        self.register_buffer("suffix_ids", torch.tensor(tokenizer.suffix_ids, dtype=torch.long), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()
        n = ids.shape[0]
        present = ids != PAD_ID
        # Each row's text ends at its last non-padding id; the batch is cut at the longest text.
        positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
        lengths = (present * positions).amax(dim=1) if ids.shape[1] else torch.zeros(n, dtype=torch.long)
        width = int(lengths.max()) if n else 0
        # The attributed layer sees every position, padding included (layer methods replace its whole output,
        # so it must have one shape for a text and for its baseline); the transformer then reads the text only.
        words = self.embeddings(self.ours_to_hf[ids])[:, :width]
        present = present[:, :width]
        weight = self.embeddings.weight
        p, s = len(self.prefix_ids), len(self.suffix_ids)
        d = weight.shape[1]
        pre = weight[self.prefix_ids].detach().to(words.dtype).expand(n, p, d)
        full = torch.cat([pre, words, words.new_zeros(n, s, d)], dim=1)
        mask = torch.cat([present.new_ones(n, p), present, present.new_zeros(n, s)], dim=1)
        if s:
            rows = torch.arange(n, device=ids.device).unsqueeze(1)
            at = p + lengths.unsqueeze(1) + torch.arange(s, device=ids.device)
            suf = weight[self.suffix_ids].detach().to(words.dtype).expand(n, s, d)
            full = full.index_put((rows.expand(n, s), at), suf)
            mask = mask.index_put((rows.expand(n, s), at), torch.ones_like(at, dtype=torch.bool))
        out = self.hf(inputs_embeds=full, attention_mask=mask.long())
        return out.logits if hasattr(out, "logits") else out[0]


def load_huggingface(model_or_dir: Any, tokenizer: Any = None) -> tuple[nn.Module, Any, dict[str, Any]]:
    """A model and its tokenizer from a directory (``local_files_only``) or as given; with what was loaded."""
    transformers = _require_transformers()
    transformers.utils.logging.disable_progress_bar()   # no "Loading weights" bars in a CLI's output
    info: dict[str, Any] = {}
    if isinstance(model_or_dir, (str, Path)):
        path = Path(model_or_dir)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(NOT_FOUND.format(path=path))
        model = transformers.AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
        if tokenizer is None:
            tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
        info["directory"] = str(path.resolve())
        from deepaudit.audit.integrity import sha256_file

        # The files read, hashed: what was audited is identifiable from the run alone.
        info["files_sha256"] = {f.name: sha256_file(f) for f in sorted(path.iterdir())
                                if f.is_file() and f.suffix in (".json", ".safetensors", ".bin", ".txt", ".model")}
    else:
        model = model_or_dir
        if tokenizer is None:
            raise ValueError("a model object needs its tokenizer: pass tokenizer=... "
                             "(or pass the directory both were saved to).")
    config = getattr(model, "config", None)
    if config is None or not getattr(config, "num_labels", None):
        raise ValueError(NOT_CLASSIFIER.format(what=type(model).__name__))
    info.update(model_type=getattr(config, "model_type", None), model_class=type(model).__name__,
                tokenizer_class=type(tokenizer).__name__, transformers=transformers.__version__)
    return model, tokenizer, info


def from_huggingface(model_or_dir: Any, texts: Sequence[str], labels: Any, groups: pd.DataFrame | None = None, *,
                     tokenizer: Any = None, name: str | None = None, task: str = "text classification",
                     class_names: Sequence[str] | None = None, favorable_label: str | None = None,
                     sensitive_columns: Sequence[str] = (), cohort_columns: Sequence[str] = (),
                     sample_ids: Any = None, max_length: int | None = None, domain: str = "text",
                     provenance: dict[str, Any] | None = None, device: Any = "cpu"):
    """An :class:`deepaudit.audit.target.AuditTarget` for a Hugging Face sequence classifier.

    Parameters
    ----------
    model_or_dir : PreTrainedModel or path
        An ``AutoModelForSequenceClassification`` (then pass ``tokenizer``) or the directory given to
        ``save_pretrained`` for both model and tokenizer. Nothing is downloaded.
    texts, labels : the evaluation texts and their integer labels.
    groups : DataFrame, optional
        Per-text group or cohort columns (same length as ``texts``).
    class_names : optional
        One name per label in id order; default ``config.id2label``.
    max_length : int, optional
        Tokens the model reads, special tokens included; default the smaller of the tokenizer's
        ``model_max_length`` and the model's ``max_position_embeddings`` (at most 512).
    Other parameters are :class:`deepaudit.audit.target.AuditTarget`'s.

    Examples
    --------
    >>> target = from_huggingface("my-bert/", texts, labels, favorable_label="positive")  # doctest: +SKIP
    """
    from deepaudit.audit.device import resolve_device
    from deepaudit.audit.target import AuditTarget, EvalData

    hf_model, hf_tok, info = load_huggingface(model_or_dir, tokenizer)
    config = hf_model.config
    n_labels = int(config.num_labels)
    if class_names is None:
        id2label = getattr(config, "id2label", None) or {}
        class_names = [str(id2label.get(i, id2label.get(str(i), f"label_{i}"))) for i in range(n_labels)]
    class_names = list(class_names)
    if len(class_names) != n_labels:
        raise ValueError(CLASS_MISMATCH.format(got=len(class_names), want=n_labels))
    if max_length is None:
        limits = [int(v) for v in (getattr(hf_tok, "model_max_length", None),
                                   getattr(config, "max_position_embeddings", None)) if v and int(v) < 10 ** 6]
        max_length = min(limits + [512])
        if getattr(config, "model_type", None) in ("roberta", "xlm-roberta", "camembert"):
            max_length = min(max_length, int(config.max_position_embeddings) - 2)   # positions start after padding
    tok = HFTokenizer(hf_tok, max_length=max_length)
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(BAD_TEXTS.format(type=type(text).__name__, index=i))
    model = HFClassifier(hf_model, tok).to(resolve_device(device)).eval()
    groups = pd.DataFrame(index=range(len(texts))) if groups is None else groups.reset_index(drop=True)
    layers = getattr(config, "num_hidden_layers", "?")
    hidden = getattr(config, "hidden_size", "?")
    card = {"architecture": (f"{info['model_class']} ({info['model_type']}): {layers} layers, hidden size {hidden}, "
                             "vocabulary "
                             f"{len(tok)} word pieces, reads {max_length} tokens with special tokens")}
    prov = {"huggingface": info, "max_length": max_length,
            "tokenization": (f"{info['tokenizer_class']} word pieces; special tokens {tok.prefix_ids} before and "
                             f"{tok.suffix_ids} after each text are added inside the model wrapper and never "
                             f"attributed; texts longer than {tok.max_tokens} pieces are truncated at the end")}
    prov.update(provenance or {})
    prov["card"] = {**card, **(prov.get("card") or {})}
    return AuditTarget(
        name=name or Path(str(info.get("directory", type(hf_model).__name__))).name, domain=domain, task=task,
        class_names=class_names, favorable_label=favorable_label, model=model,
        eval_data=EvalData(inputs=tok.encode(texts), labels=np.asarray(labels), groups=groups, raw=texts,
                           sample_ids=None if sample_ids is None else np.asarray(sample_ids)),
        sensitive_columns=list(sensitive_columns), cohort_columns=list(cohort_columns), preprocess=tok.encode,
        tokenizer=tok, embedding_layer="embeddings", baseline=torch.zeros(tok.max_tokens, dtype=torch.long),
        provenance=prov, data_kind="text")
