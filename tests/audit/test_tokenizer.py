"""The tokenizer contract (deepaudit.audit.tokenizer): pad id 0, unknown id 1, itos/stoi, tokens with offsets,
encode."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import torch

from deepaudit.audit.tokenizer import (
    PAD_ID,
    PAD_TOKEN,
    UNK_ID,
    UNK_TOKEN,
    Tokenizer,
    check_tokenizer,
)
from deepaudit.models.nlp.tokenizer import Vocabulary


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int


class TinyTokenizer:
    """A hand-made whitespace tokenizer; ``itos``, ``pad`` and ``unk`` are knobs to break the contract."""

    def __init__(self, itos=(PAD_TOKEN, UNK_TOKEN, "good", "bad"), *, length=6, pad=PAD_ID, unk=UNK_ID):
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.length, self.pad, self.unk = length, pad, unk

    def tokens(self, text):
        return [Span(m.group(0), m.start(), m.end()) for m in re.finditer(r"\S+", text)][:self.length]

    def encode(self, texts):
        ids = torch.full((len(texts), self.length), self.pad, dtype=torch.long)
        for i, text in enumerate(texts):
            row = [self.stoi.get(t.text, self.unk) for t in self.tokens(text)]
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        return ids


def test_constants():
    assert (PAD_ID, UNK_ID, PAD_TOKEN, UNK_TOKEN) == (0, 1, "<pad>", "<unk>")


def test_hand_made_and_bundled_tokenizers_satisfy_the_contract():
    tiny = TinyTokenizer()
    vocab = Vocabulary([PAD_TOKEN, UNK_TOKEN, "good", "bad"], max_tokens=8, head=6)
    for tok in (tiny, vocab):
        assert isinstance(tok, Tokenizer)
        check_tokenizer(tok)  # no error
        ids = tok.encode(["good zzz", ""])
        assert ids[0, :2].tolist() == [tok.stoi["good"], UNK_ID] and (ids[0, 2:] == PAD_ID).all()
        assert (ids[1] == PAD_ID).all()


def test_missing_members_are_named():
    class NoEncode:
        itos, stoi = [PAD_TOKEN, UNK_TOKEN], {PAD_TOKEN: 0, UNK_TOKEN: 1}

        def tokens(self, text):
            return []

    assert not isinstance(NoEncode(), Tokenizer)
    with pytest.raises(ValueError, match=r"tokenizer NoEncode violates the tokenizer contract.*missing or not "
                                         r"callable: encode"):
        check_tokenizer(NoEncode())


def test_reserved_tokens_must_sit_at_ids_0_and_1():
    with pytest.raises(ValueError, match=r"itos\[:2\] must be \['<pad>', '<unk>'\].*got \['<unk>', '<pad>'\]"):
        check_tokenizer(TinyTokenizer(itos=(UNK_TOKEN, PAD_TOKEN, "good")))


def test_stoi_must_invert_itos():
    tok = TinyTokenizer()
    tok.stoi["good"] = 3
    with pytest.raises(ValueError, match=r"stoi must be the inverse of itos: stoi\['good'\] is 3, itos says 2"):
        check_tokenizer(tok)


def test_encode_must_pad_with_0_and_map_unknown_words_to_1():
    with pytest.raises(ValueError, match=r"encode\(\[''\]\) must be all padding \(id 0\)"):
        check_tokenizer(TinyTokenizer(pad=3))
    with pytest.raises(ValueError, match=r"must encode to the unknown id 1, got \[0\]"):
        check_tokenizer(TinyTokenizer(unk=0))


def test_encode_must_return_a_2d_int64_tensor():
    class FloatIds(TinyTokenizer):
        def encode(self, texts):
            return super().encode(texts).float()

    with pytest.raises(ValueError, match=r"encode\(texts\) must return an int64 tensor \(len\(texts\), L\), "
                                         r"got torch.float32"):
        check_tokenizer(FloatIds())


def test_target_validation_applies_the_tokenizer_contract():
    import dataclasses

    from deepaudit.audit.target import load_target

    t = load_target("sentiment", device="cpu")
    broken = dataclasses.replace(t, tokenizer=TinyTokenizer(itos=(UNK_TOKEN, PAD_TOKEN, "good")))
    with pytest.raises(ValueError, match=r"target 'sentiment': .*itos\[:2\] must be \['<pad>', '<unk>'\]"):
        broken.validate()
