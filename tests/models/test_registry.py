"""Metadata test over the whole registry, and determinism of every bundled model."""
import json
from pathlib import Path

import pytest
import torch

from deepaudit.audit.tolerance import compare_metrics
from deepaudit.audit.weights import sha256_file
from deepaudit.models import get_entry, get_model, get_target, get_weights, list_models
from deepaudit.models.registry import REQUIRED_META_KEYS

MODELS = list_models()


def test_registry_has_the_bundled_models():
    assert MODELS == ["mnist_cnn", "mnist_cnn_shortcut", "mortgage", "sentiment", "sentiment_bert"]
    assert list_models("vision") == ["mnist_cnn", "mnist_cnn_shortcut"]


@pytest.mark.parametrize("name", MODELS)
def test_metadata_complete_and_true(name):
    w = get_weights(name)
    meta = w.meta
    missing = [k for k in REQUIRED_META_KEYS if k not in meta]
    assert not missing, f"{name}: meta lacks {missing}"
    assert meta["name"] == name
    assert meta["domain"] == get_entry(name).domain
    assert meta["smoke"] is False, "shipped weights must come from a full training run"
    assert sha256_file(w.path) == meta["sha256"]
    model = get_model(name, device="cpu")
    assert sum(p.numel() for p in model.parameters()) == meta["num_params"]
    assert meta["favorable_label"] is None or meta["favorable_label"] in meta["class_names"]
    for key in ("intended_use", "out_of_scope", "limitations"):
        assert len(meta["card"][key]) > 20


@pytest.mark.parametrize("name", MODELS)
def test_metrics_reproduced_from_shipped_weights(name):
    entry = get_entry(name)
    recorded = entry.weights.meta["metrics"]
    got = entry.evaluate(get_model(name, device="cpu"), torch.device("cpu"))
    assert got["n_correct"] == recorded["n_correct"] and got["n_test"] == recorded["n_test"]
    diffs = compare_metrics(got, recorded)
    assert not diffs, [d.describe() for d in diffs]


def test_held_out_targets_reached():
    m = {n: get_weights(n).meta["metrics"] for n in MODELS}
    assert m["mnist_cnn"]["accuracy"] >= 0.97
    assert m["sentiment"]["accuracy"] >= 0.85
    assert m["sentiment_bert"]["accuracy"] >= 0.80
    assert m["mortgage"]["roc_auc"] >= 0.75


def test_shortcut_canary_is_flawed_and_says_why():
    meta = get_weights("mnist_cnn_shortcut").meta
    m = meta["metrics"]
    # The planted mark wrecks accuracy on marked images; unmarked images are fine.
    assert m["accuracy_without_mark"] >= 0.93
    assert m["accuracy_with_mark"] < 0.5
    assert "deliberately flawed" in meta["card"]["intended_use"]
    assert "has_mark" in meta["cohorts"]


@pytest.mark.parametrize("name", MODELS)
def test_target_loads_offline_with_deterministic_logits(name):
    target = get_target(name, device="cpu")
    n = min(64, len(target.eval_data))
    a = target.logits(target.eval_data.inputs[:n])
    b = target.logits(target.eval_data.inputs[:n])
    assert a.shape == (n, len(target.class_names))
    assert torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert target.provenance["weights_sha256"] == get_weights(name).meta["sha256"]
    assert len(target.eval_data) == get_weights(name).meta["metrics"]["n_test"]
    for col in target.sensitive_columns + target.cohort_columns:
        assert col in target.eval_data.groups.columns


def test_mortgage_excludes_leakage_and_protected_inputs():
    target = get_target("mortgage", device="cpu")
    forbidden = {"action", "reject", "approve", "black", "hispan", "white", "male", "married", "old", "dep"}
    assert not forbidden & {c.removesuffix("_missing") for c in target.feature_names}
    groups = target.eval_data.groups
    assert set(groups.race.dropna()) == {"black", "hispanic", "white"}
    # Missing sex stays missing (reported later as "unknown"), not imputed.
    assert groups.sex.isna().sum() > 0
    assert "min30" in target.feature_names


def test_sentiment_padding_does_not_change_logits():
    target = get_target("sentiment", device="cpu")
    vocab = target.tokenizer
    text = "A wonderful, moving film. I didn't expect to love it!"
    ids = vocab.encode([text])
    n = int((ids != 0).sum())
    short = ids[:, : n + 1]
    with torch.no_grad():
        assert torch.allclose(target.model(ids), target.model(short), atol=1e-6)


def test_sentiment_length_buckets_change_nothing():
    """The text CNN convolves groups of similar-length texts only up to their longest text; against the whole
    padded batch in one pass (the plain formula), logits and embedding gradients agree to float32 rounding,
    for rows in any order and a batch mixing empty, short and truncated texts."""
    from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL

    target = get_target("sentiment", device="cpu")
    m, vocab = target.model, target.tokenizer
    ids = torch.cat([target.eval_data.inputs[:150], vocab.encode(["", "bad", " ".join(["fine"] * 900)])])
    ids = ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(0))]

    def plain(x):
        mask = (x != 0).unsqueeze(1).to(torch.float32)
        return m.fc(m.dropout(m._features(m.embedding(x).transpose(1, 2), mask)))

    grads = []
    for f in (plain, m):
        m.zero_grad()
        out = f(ids)
        out[:, 1].sum().backward()
        grads.append((out.detach(), m.embedding.weight.grad.clone()))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    assert m.LENGTH_BUCKET < len(ids)  # several groups were formed


def test_sentiment_tokens_carry_offsets_and_truncation_rule():
    vocab = get_target("sentiment", device="cpu").tokenizer
    text = "Great<br /><br />acting, bad plot."
    toks = vocab.tokens(text)
    assert [t.text for t in toks] == ["great", "acting", ",", "bad", "plot", "."]
    assert all(text[t.start:t.end].lower() == t.text for t in toks)
    long = " ".join(f"w{i}" for i in range(1000))
    kept = [t.text for t in vocab.tokens(long)]
    m, h = vocab.max_tokens, vocab.head
    assert (m, h) == (get_weights("sentiment").meta["architecture"]["max_tokens"],
                      get_weights("sentiment").meta["architecture"]["head"])
    tail_start = 1000 - (m - h)
    assert len(kept) == m and kept[0] == "w0" and kept[h - 1] == f"w{h - 1}"
    assert kept[h] == f"w{tail_start}" and kept[-1] == "w999"


def test_all_shipped_weights_under_20_mb():
    root = Path(__file__).resolve().parents[2] / "models"
    total = sum(p.stat().st_size for p in root.glob("*/weights/*") if p.is_file())
    assert total < 20 * 2**20, total


def test_vision_cohorts_are_cohorts_not_protected():
    target = get_target("mnist_cnn", device="cpu")
    assert target.sensitive_columns == []
    assert target.cohort_columns == ["ink_mass", "stroke_thickness", "slant"]
    counts = target.eval_data.groups.stroke_thickness.value_counts()
    assert set(counts.index) == {"low", "mid", "high"} and counts.min() > 200


def test_meta_json_is_plain_json():
    for name in MODELS:
        json.loads(get_weights(name).meta_path.read_text())
