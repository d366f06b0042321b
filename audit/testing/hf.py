"""Small Hugging Face models made here, offline: a WordPiece tokenizer trained on given texts, a BERT-style
classifier built from a config (random initialisation, no hub), a short fine-tune.

Used by the bundled ``sentiment_bert`` recipe (models/nlp/bert_train.py), the contract zoo
(:func:`deepaudit.audit.testing.zoo.huggingface_text`) and the tests; needs ``transformers`` and ``tokenizers``.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(texts: list[str], vocab_size: int, max_length: int):
    """A lower-casing WordPiece tokenizer (BERT's normaliser and pre-tokeniser) trained on ``texts``, wrapped as a
    transformers fast tokenizer with [CLS] ... [SEP] around each text. HTML line breaks become spaces."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()   # no "Writing model shards" bars from save_pretrained
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"<br\s*/?>"), " "),
                                           normalizers.BertNormalizer(lowercase=True)])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_length)


def build_bert(arch: dict[str, Any], class_names: list[str]):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=arch["vocab_size"], hidden_size=arch["hidden_size"],
                        num_hidden_layers=arch["num_hidden_layers"], num_attention_heads=arch["num_attention_heads"],
                        intermediate_size=arch["intermediate_size"], max_position_embeddings=arch["max_length"],
                        num_labels=len(class_names), id2label=dict(enumerate(class_names)),
                        label2id={c: i for i, c in enumerate(class_names)})
    return BertForSequenceClassification(config)


def fine_tune(model, tokenizer, texts: list[str], labels: np.ndarray, *, epochs: int, batch_size: int, lr: float,
              weight_decay: float, seed: int, max_length: int, log=print) -> None:
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding="max_length", return_tensors="pt")
    ids, mask, y = enc["input_ids"], enc["attention_mask"], torch.tensor(np.array(labels), dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(y) / batch_size)
    warm = max(1, int(0.06 * steps))

    def rate(step: int) -> float:  # linear warm-up, then cosine decay
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, rate)
    dev = next(model.parameters()).device
    model.train()
    for epoch in range(epochs):
        order, t0, seen, loss_sum = torch.randperm(len(y), generator=g), time.time(), 0, 0.0
        for start in range(0, len(y), batch_size):
            b = order[start:start + batch_size]
            width = int(mask[b].sum(1).max())          # trim each batch to its longest text
            out = model(input_ids=ids[b, :width].to(dev), attention_mask=mask[b, :width].to(dev), labels=y[b].to(dev))
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            seen, loss_sum = seen + len(b), loss_sum + out.loss.item() * len(b)
            if (start // batch_size) % 200 == 199:
                log(f"  {seen}/{len(y)} texts: loss {loss_sum / seen:.4f} ({time.time() - t0:.0f} s)")
        log(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.4f} ({time.time() - t0:.0f} s)")
    model.eval()


def predictions(model, tokenizer, texts: list[str], *, max_length: int, batch_size: int = 128) -> np.ndarray:
    """Predicted class per text, the model called through its tokenizer (truncation at ``max_length``)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start:start + batch_size], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt").to(next(model.parameters()).device)
            out.append(model(**enc).logits.argmax(1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy(model, tokenizer, texts: list[str], labels: np.ndarray, *, max_length: int) -> float:
    return float((predictions(model, tokenizer, texts, max_length=max_length) == np.asarray(labels)).mean())
