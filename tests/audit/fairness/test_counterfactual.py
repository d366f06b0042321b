"""Counterfactual text probe: known-answer fakes (biased by construction and blind to names),
the bundled sentiment model end to end, word lists, determinism and errors."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from deepaudit.audit.fairness import counterfactual as cf
from deepaudit.audit.fairness import lexicons
from deepaudit.audit.fairness.counterfactual import (
    counterfactual_checks,
    counterfactual_probe,
    resolve_attributes,
)
from deepaudit.audit.target import AuditTarget, EvalData
from deepaudit.audit.tolerance import FLOAT32_ATOL
from deepaudit.models.nlp.tokenizer import PAD, UNK, Vocabulary, tokenize

BIAS = 3.0
POSITIVE = {"wonderful", "loved", "brilliant", "superb", "funniest", "beautiful", "great", "delight"}
NEGATIVE = {"dull", "flat", "lifeless", "boring", "mess", "waste", "worst", "terrible", "poor", "asleep"}
DROPPED = "Juan"  # a male name left out of the fake vocabulary, to test OOV shares


class BagOfWords(nn.Module):
    """Positive logit = BIAS x (female-name tokens) + (positive words) - (negative words) - 0.5.

    Linear in the embeddings with a zero padding row, so IG from the zero
    baseline is exact: BIAS on a female name, 0 on a male one.
    """

    def __init__(self, vocab: Vocabulary, female: set[str], *, bias: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(len(vocab), 2, padding_idx=0)
        weight = torch.zeros(len(vocab), 2)
        for token, i in vocab.stoi.items():
            weight[i, 0] = bias if token in female else 0.0
            weight[i, 1] = 1.0 if token in POSITIVE else -1.0 if token in NEGATIVE else 0.0
        with torch.no_grad():
            self.embedding.weight.copy_(weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        score = self.embedding(ids).sum(dim=(1, 2)) - 0.5
        return torch.stack([torch.zeros_like(score), score], dim=1)


def fake_target(*, bias: float) -> AuditTarget:
    names = lexicons.gendered_first_names()
    texts = cf._instances(resolve_attributes("gender"))["text"]
    words = sorted({tok.text for text in texts for tok in tokenize(text)} - {DROPPED.lower()})
    vocab = Vocabulary([PAD, UNK] + words, max_tokens=64, head=48)
    model = BagOfWords(vocab, {n.lower() for n in names["female"]}, bias=bias)
    data = EvalData(inputs=vocab.encode(["a wonderful film", "a dull film"]), labels=np.array([1, 0]))
    return AuditTarget(name=f"bag_bias_{bias:g}", domain="nlp", task="toy sentiment",
                       class_names=["negative", "positive"], favorable_label="positive", model=model,
                       eval_data=data, preprocess=vocab.encode, tokenizer=vocab, embedding_layer="embedding",
                       baseline=torch.zeros(vocab.max_tokens, dtype=torch.long)).validate()


@pytest.fixture(scope="module")
def biased():
    return counterfactual_probe(fake_target(bias=BIAS), attribute="gender", n_boot=300, seed=1)


@pytest.fixture(scope="module")
def unbiased():
    return counterfactual_probe(fake_target(bias=0.0), attribute="gender", n_boot=300, seed=1)


@pytest.fixture(scope="module")
def sentiment(bundled_target):
    return bundled_target("sentiment")


@pytest.fixture(scope="module")
def sentiment_result(sentiment):
    return counterfactual_probe(sentiment, attribute="all", n_boot=200, explain_per_template=2)


def _row(df: pd.DataFrame, **match) -> pd.Series:
    mask = np.ones(len(df), dtype=bool)
    for k, v in match.items():
        mask &= (df[k] == v).to_numpy()
    assert mask.sum() == 1, match
    return df[mask].iloc[0]


def test_biased_model_shows_gap_flips_and_token_attribution(biased):
    pair = _row(biased.pairs, attribute="gender", group_a="female", group_b="male")
    assert pair["mean_diff"] > 0.3
    assert pair["lo"] > 0.2 and pair["hi"] >= pair["mean_diff"] >= pair["lo"]
    # Neutral and negative templates (score <= 0) flip from negative to positive with a female name.
    assert pair["flip_share"] >= 0.5 and pair["word_flip_share"] >= 0.5
    female = _row(biased.groups, attribute="gender", group="female")
    male = _row(biased.groups, attribute="gender", group="male")
    assert female["mean_token_attribution"] == pytest.approx(BIAS, abs=1e-3)
    assert female["token_attr_share"] > 0.7
    assert abs(male["mean_token_attribution"]) < 1e-4 and male["token_attr_share"] < 1e-4
    assert female["mean_prob"] > male["mean_prob"] and female["lo"] > male["hi"]


def test_biased_model_fails_checks_unbiased_passes(biased, unbiased):
    failed = {c.id: c for c in counterfactual_checks(biased)}
    passed = {c.id: c for c in counterfactual_checks(unbiased)}
    ids = {"counterfactual_gender_max_abs_diff", "counterfactual_gender_flip_share"}
    assert set(failed) == ids == set(passed)
    assert not any(c.passed for c in failed.values())
    assert all(c.passed for c in passed.values())
    for check in failed.values():
        assert check.to_dict()["passed"] is False and check.note


def test_name_blind_model_has_no_gap(unbiased):
    pair = _row(unbiased.pairs, group_a="female", group_b="male")
    # Probabilities of a float32 model: equal up to float32 noise, not bit for bit on every CPU.
    tol = 100 * FLOAT32_ATOL
    assert pair["mean_diff"] == pytest.approx(0.0, abs=tol)
    assert pair["lo"] == pytest.approx(0.0, abs=tol) and pair["hi"] == pytest.approx(0.0, abs=tol)
    assert pair["flip_share"] == 0.0 and pair["word_flip_share"] == 0.0
    assert unbiased.groups["token_attr_share"].abs().max() < 1e-4


def test_oov_share_counts_unknown_words(biased):
    female = _row(biased.groups, group="female")
    male = _row(biased.groups, group="male")
    assert female["oov_share"] == 0.0
    assert male["oov_share"] == pytest.approx(1 / male["n_words"])
    assert biased.instances.loc[biased.instances["word"] == DROPPED, "oov"].eq(1.0).all()
    assert any("male" in note and "<unk>" in note for note in biased.notes)
    assert "male 2%" in {c.id: c for c in counterfactual_checks(biased)}["counterfactual_gender_max_abs_diff"].note


def test_a_probe_whose_every_word_is_out_of_vocabulary_is_not_computable():
    """When no swapped word is in the vocabulary every swap feeds the model the same <unk>: differences are 0 by
    construction, so the checks must say "not computable", never pass."""
    names = lexicons.gendered_first_names()
    gendered = {n.lower() for n in names["female"] + names["male"]}
    texts = cf._instances(resolve_attributes("gender"))["text"]
    target = fake_target(bias=BIAS)
    words = sorted({tok.text for text in texts for tok in tokenize(text)} - gendered)
    vocab = Vocabulary([PAD, UNK] + words, max_tokens=64, head=48)
    blind = AuditTarget(name="bag_blind", domain="nlp", task="toy sentiment", class_names=["negative", "positive"],
                        favorable_label="positive", model=BagOfWords(vocab, set(), bias=BIAS),
                        eval_data=EvalData(inputs=vocab.encode(["a wonderful film", "a dull film"]),
                                           labels=np.array([1, 0])),
                        preprocess=vocab.encode, tokenizer=vocab, embedding_layer="embedding",
                        baseline=target.baseline).validate()
    result = counterfactual_probe(blind, attribute="gender", n_boot=50, seed=1)
    assert (result.groups["oov_share"] == 1.0).all()
    checks = counterfactual_checks(result)
    assert {c.id for c in checks} == {"counterfactual_gender_max_abs_diff", "counterfactual_gender_flip_share"}
    for c in checks:
        assert c.value is None and not c.passed and "measured nothing" in c.note


def test_same_seed_same_tables_other_seed_other_intervals():
    target = fake_target(bias=1.0)
    a = counterfactual_probe(target, attribute="gender", n_boot=200, seed=7)
    b = counterfactual_probe(target, attribute="gender", n_boot=200, seed=7)
    c = counterfactual_probe(target, attribute="gender", n_boot=200, seed=8)
    for name in ("groups", "pairs", "instances"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not np.allclose(a.pairs[["lo", "hi"]], c.pairs[["lo", "hi"]])
    assert np.allclose(a.pairs["mean_diff"], c.pairs["mean_diff"])


def test_sentiment_model_end_to_end(sentiment, sentiment_result):
    r = sentiment_result
    sets = resolve_attributes("all")
    assert list(r.groups.columns) == cf.GROUP_COLUMNS
    assert list(r.pairs.columns) == cf.PAIR_COLUMNS
    assert list(r.instances.columns) == cf.INSTANCE_COLUMNS
    assert len(r.groups) == sum(len(s.groups) for s in sets)
    assert len(r.pairs) == sum(math.comb(len(s.groups), 2) for s in sets)
    assert len(r.instances) == sum(len(s.templates) * sum(map(len, s.groups.values())) for s in sets)
    numeric = ["mean_prob", "lo", "hi", "oov_share", "mean_token_attribution", "token_attr_share"]
    assert np.isfinite(r.groups[numeric].to_numpy(dtype=float)).all()
    assert np.isfinite(r.pairs[["mean_diff", "lo", "hi", "flip_share"]].to_numpy(dtype=float)).all()
    assert ((r.groups["lo"] <= r.groups["mean_prob"]) & (r.groups["mean_prob"] <= r.groups["hi"])).all()
    assert r.instances["prob"].between(0, 1).all()
    assert set(r.instances["pred"]) <= set(sentiment.class_names)
    # Trimming the padding must not change what the model says.
    sample = r.instances.iloc[::97]
    full = torch.softmax(sentiment.logits(sentiment.preprocess(list(sample["text"]))).double(), 1)[:, 1]
    np.testing.assert_allclose(sample["prob"].to_numpy(), full.numpy(), atol=1e-6)
    assert r.settings["ig_share_within_5pct_completeness"] >= 0.9
    # Most Bertrand & Mullainathan Black names are not in the review vocabulary: that must be reported.
    assert _row(r.groups, attribute="race", group="black")["oov_share"] > 0.5
    assert any(note.startswith("race/black") for note in r.notes)
    ids = {c.id for c in counterfactual_checks(r)}
    assert {"counterfactual_gender_max_abs_diff", "counterfactual_race_flip_share",
            "counterfactual_identity_religion_max_abs_diff"} <= ids


def test_word_lists_and_citations():
    sets = lexicons.substitution_sets()
    assert {"gender", "race", "identity_religion", "identity_orientation", "identity_race"} <= set(sets)
    for s in sets.values():
        assert len(s.groups) >= 2 and s.templates and s.citation
        for group, words in s.groups.items():
            assert words and all(isinstance(w, str) and w.strip() for w in words), (s.attribute, group)
        for _, template in s.templates:
            assert template.count("{" + s.slot + "}") == 1
    names = lexicons.gendered_first_names()
    assert len(names["female"]) == len(names["male"]) == lexicons.N_GENDER_NAMES
    assert not set(names["female"]) & set(names["male"])
    assert not {n.lower() for n in names["female"] + names["male"]} & lexicons.HOMOGRAPHS
    assert names["female"][0] == "Mary" and names["male"][0] == "James"
    race = lexicons.race_first_names()
    assert {"Emily", "Greg"} <= set(race["white"]) and {"Lakisha", "Jamal"} <= set(race["black"])
    for text in (lexicons.BERTRAND_MULLAINATHAN_CITATION, lexicons.__doc__):
        assert "Bertrand" in text and "Mullainathan" in text and "2004" in text
    assert "1990" in lexicons.NAMES_CITATION and "proxies" in lexicons.BERTRAND_MULLAINATHAN_CITATION


def test_attribute_aliases():
    assert [s.attribute for s in resolve_attributes("identity")] == list(cf.ATTRIBUTE_ALIASES["identity"])
    assert [s.attribute for s in resolve_attributes(["race", "gender", "race"])] == ["race", "gender"]


def test_unknown_attribute_and_non_text_target_are_refused():
    target = fake_target(bias=0.0)
    with pytest.raises(ValueError, match="unknown counterfactual attribute 'age'.*Fix"):
        counterfactual_probe(target, attribute="age")
    with pytest.raises(ValueError, match=r"needs a text target.*with tabular \(domain 'nlp'\) data"):
        # the same token ids without the tokenizer and embedding layer are rows of numbers, not text
        counterfactual_probe(dataclasses.replace(target, domain="nlp", tokenizer=None, embedding_layer=None),
                             attribute="gender")
    # the domain label alone decides nothing: a text model labelled "finance" still gets its probes
    assert counterfactual_probe(dataclasses.replace(target, domain="finance"), attribute="gender",
                                n_boot=50, seed=1).pairs.shape[0] > 0
    with pytest.raises(ValueError, match="n_boot"):
        counterfactual_probe(target, attribute="gender", n_boot=0)
    with pytest.raises(ValueError, match="favorable_label"):
        counterfactual_probe(dataclasses.replace(target, favorable_label=None), attribute="gender")
