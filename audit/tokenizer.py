"""The tokenizer contract of text targets (``AuditTarget.tokenizer``).

Text models read padded token-id tensors. deepaudit relies on:

- id ``PAD_ID`` (0) is padding: ``itos[0]`` is ``PAD_TOKEN``, rows are padded
  with it at the end, and padding carries no attribution;
- id ``UNK_ID`` (1) is the unknown token: ``itos[1]`` is ``UNK_TOKEN``, words
  outside the vocabulary encode to it (shap's text masker, OOV shares);
- ``itos`` (id -> token) and ``stoi`` (token -> id) are inverse maps;
- ``tokens(text)`` gives the tokens the model reads, each with ``text`` and
  ``[start, end)`` character offsets into ``text``;
- ``encode(texts)`` gives an int64 tensor ``(len(texts), L)`` whose row ``i``
  holds the ids of ``tokens(texts[i])`` in order, then padding.

:class:`deepaudit.models.nlp.tokenizer.Vocabulary` satisfies it. :func:`check_tokenizer`
tests an object against it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, Protocol, runtime_checkable

import torch

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"

NOT_A_TOKENIZER = "tokenizer {type} violates the tokenizer contract (deepaudit.audit.tokenizer.Tokenizer): {problems}."
# A string no real vocabulary holds; check_tokenizer encodes it to see the unknown id.
_PROBE = "zqxjvkw"


@runtime_checkable
class TokenSpan(Protocol):
    """One token the model reads: its text and ``[start, end)`` offsets into the original string."""

    text: str
    start: int
    end: int


@runtime_checkable
class Tokenizer(Protocol):
    """What deepaudit calls on ``AuditTarget.tokenizer`` (see the module docstring for the id rules)."""

    itos: Sequence[str]
    stoi: Mapping[str, int]

    def tokens(self, text: str) -> Sequence[TokenSpan]:
        """The tokens of ``text`` the model reads (after any truncation), with character offsets."""
        ...

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts -> int64 ids ``(len(texts), L)``: row ``i`` is ``tokens(texts[i])`` then ``PAD_ID``."""
        ...


def check_tokenizer(tok: Any) -> None:
    """Raise ValueError listing every way ``tok`` breaks the :class:`Tokenizer` contract.

    Checks the members, the reserved ids (``itos[:2] == [PAD_TOKEN, UNK_TOKEN]``
    and ``stoi`` agreeing with ``itos``) and, by encoding ``""`` and a word
    outside the vocabulary, that padding is ``PAD_ID`` and unknown words are
    ``UNK_ID``.
    """
    missing = [m for m in ("itos", "stoi", "tokens", "encode") if not hasattr(tok, m)]
    missing += [m for m in ("tokens", "encode") if hasattr(tok, m) and not callable(getattr(tok, m))]
    if missing:
        _fail(tok, [f"missing or not callable: {', '.join(sorted(set(missing)))}"])
    problems: list[str] = []
    itos, stoi = list(tok.itos), tok.stoi
    if not isinstance(stoi, Mapping):
        _fail(tok, [f"stoi must be a mapping token -> id, got {type(stoi).__name__}"])
    if itos[:2] != [PAD_TOKEN, UNK_TOKEN]:
        problems.append(f"itos[:2] must be [{PAD_TOKEN!r}, {UNK_TOKEN!r}] (pad id {PAD_ID}, unknown id {UNK_ID}), "
                        f"got {itos[:2]!r}")
    wrong = [(t, stoi.get(t), i) for i, t in enumerate(itos) if stoi.get(t) != i]
    if wrong or len(stoi) != len(itos):
        t, got, i = wrong[0] if wrong else (None, None, None)
        problems.append("stoi must be the inverse of itos" +
                        (f": stoi[{t!r}] is {got!r}, itos says {i}" if wrong else
                         f" ({len(stoi)} entries for {len(itos)} tokens)"))
    if problems:
        _fail(tok, problems)
    probe = _PROBE
    while probe in stoi:
        probe += "q"
    try:
        ids = tok.encode(["", probe])
        spans = list(tok.tokens(probe))
    except Exception as exc:  # noqa: BLE001 - any failure here is a contract violation worth naming
        _fail(tok, [f"encode/tokens failed on a probe text: {type(exc).__name__}: {exc}"])
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.dim() != 2 or len(ids) != 2:
        what = (f"{ids.dtype} tensor of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor)
                else type(ids).__name__)
        _fail(tok, [f"encode(texts) must return an int64 tensor (len(texts), L), got {what}"])
    if (ids[0] != PAD_ID).any():
        problems.append(f"encode(['']) must be all padding (id {PAD_ID}), got {ids[0][ids[0] != PAD_ID][:5].tolist()}")
    n = len(spans)
    if not 1 <= n <= ids.shape[1]:
        problems.append(f"tokens({probe!r}) gave {n} tokens; expected at least 1 and at most L={ids.shape[1]}")
    else:
        if (ids[1, :n] != UNK_ID).any() and not getattr(tok, "subword", False):
            # A word-piece tokenizer (``subword = True``) reads any word as pieces: nothing is out of vocabulary.
            problems.append(f"a word outside the vocabulary ({probe!r}) must encode to the unknown id {UNK_ID}, "
                            f"got {ids[1, :n].tolist()}")
        if (ids[1, n:] != PAD_ID).any():
            problems.append(f"after its {n} tokens a row must be padding (id {PAD_ID})")
        bad = [s for s in spans if not (isinstance(s, TokenSpan) and 0 <= s.start < s.end <= len(probe))]
        if bad:
            problems.append(f"tokens(text) must give spans with text and 0 <= start < end <= len(text), got {bad[0]!r}")
    if problems:
        _fail(tok, problems)


def _fail(tok: Any, problems: list[str]) -> NoReturn:
    raise ValueError(NOT_A_TOKENIZER.format(type=type(tok).__name__, problems="; ".join(problems)) +
                     " Fix: reserve id 0 for padding and id 1 for unknown words, as "
                     "deepaudit.models.nlp.tokenizer.Vocabulary does.")
