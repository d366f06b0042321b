"""A word tokenizer that returns tokens with character offsets, and its vocabulary.

Tokens are lower-cased runs of letters/digits (with inner apostrophes, so
"didn't" stays one token) or single punctuation marks. HTML line breaks
(``<br />``) in the movie-review data are skipped. Offsets index the original
string, so attributions map back onto the text a reader sees.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import torch

PAD, UNK = "<pad>", "<unk>"
_TOKEN = re.compile(r"<br\s*/?>|[A-Za-z0-9]+(?:'[A-Za-z]+)*|[!?.,;:()\"\-]", re.IGNORECASE)

BAD_TEXT = "text inputs must be strings, got {type} at position {index}. Fix: pass a list of str."
TEXT_TOO_LONG = ("text at position {index} has {length} characters, over the limit of {limit}. "
                 "Fix: shorten it (the model reads at most {max_tokens} tokens anyway).")
MAX_CHARS = 100_000


class Token(NamedTuple):
    """A token and its ``[start, end)`` character offsets in the original string (a tuple: cheap to make)."""

    text: str
    start: int
    end: int


def token_texts(text: str) -> list[str]:
    """The lower-cased token strings of ``text``, the same as ``[t.text for t in tokenize(text)]``
    without building offsets (the fast path for encoding and counting)."""
    return [m.lower() for m in _TOKEN.findall(text) if m[0] != "<"]


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into lower-cased tokens with ``[start, end)`` character offsets.

    Examples
    --------
    >>> [(t.text, t.start, t.end) for t in tokenize("Didn't like it!")]
    [("didn't", 0, 6), ('like', 7, 11), ('it', 12, 14), ('!', 14, 15)]
    """
    return [Token(m.group(0).lower(), m.start(), m.end())
            for m in _TOKEN.finditer(text) if not m.group(0).startswith("<")]


def truncate(tokens: Sequence, max_tokens: int, head: int) -> list:
    """The documented truncation rule: keep the first ``head`` tokens and the last
    ``max_tokens - head`` (reviews tend to state their verdict at the end)."""
    if len(tokens) <= max_tokens:
        return list(tokens)
    tail = max_tokens - head
    return list(tokens[:head]) + list(tokens[len(tokens) - tail:])


class Vocabulary:
    """Token -> id map built on the training split; id 0 is padding, 1 unknown."""

    def __init__(self, itos: Sequence[str], *, max_tokens: int = 256, head: int = 192) -> None:
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.max_tokens = max_tokens
        self.head = head

    @classmethod
    def build(cls, texts: Iterable[str], *, size: int, min_count: int = 2, **kw) -> "Vocabulary":
        counts = Counter(t for text in texts for t in token_texts(text))
        # Ties broken alphabetically so the vocabulary is deterministic.
        ranked = sorted((c, t) for t, c in counts.items() if c >= min_count)
        ranked.sort(key=lambda ct: (-ct[0], ct[1]))
        return cls([PAD, UNK] + [t for _, t in ranked[: size - 2]], **kw)

    def __len__(self) -> int:
        return len(self.itos)

    def tokens(self, text: str) -> list[Token]:
        """The tokens of ``text`` the model actually reads (after truncation)."""
        return truncate(tokenize(text), self.max_tokens, self.head)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> padded id tensor (N, max_tokens), int64. Padding does not change logits."""
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(BAD_TEXT.format(type=type(text).__name__, index=i))
            if len(text) > MAX_CHARS:
                raise ValueError(TEXT_TOO_LONG.format(index=i, length=len(text), limit=MAX_CHARS,
                                                      max_tokens=self.max_tokens))
        return self.encode_token_texts([token_texts(text) for text in texts])

    def encode_token_texts(self, token_lists: Sequence[Sequence[str]]) -> torch.Tensor:
        """Already split texts (:func:`token_texts`) -> the id tensor :meth:`encode` gives."""
        ids = np.zeros((len(token_lists), self.max_tokens), dtype=np.int64)
        unk, get = self.stoi[UNK], self.stoi.get
        for i, toks in enumerate(token_lists):
            row = [get(t, unk) for t in truncate(toks, self.max_tokens, self.head)]
            ids[i, : len(row)] = row
        return torch.from_numpy(ids)

    def to_json(self) -> dict:
        return {"itos": self.itos, "max_tokens": self.max_tokens, "head": self.head}

    @classmethod
    def from_json(cls, obj: dict) -> "Vocabulary":
        return cls(obj["itos"], max_tokens=obj["max_tokens"], head=obj["head"])
