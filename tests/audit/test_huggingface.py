"""Hugging Face transformers as audit targets (audit/huggingface.py).

The models are made here, offline: a WordPiece tokenizer trained on bundled reviews and a small BERT built from
a config and fine-tuned briefly (deepaudit.audit.testing.zoo.huggingface_directory), and a RoBERTa-style model with a
byte-level BPE tokenizer (different special tokens, padding id and position ids). Each is saved with
save_pretrained and audited from its directory. Oracles: the transformer called through its own tokenizer, and
captum's layer IG run directly on the transformer with the usual [CLS] [PAD]... [SEP] baseline.
"""
import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from captum.attr import LayerIntegratedGradients  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from deepaudit.audit.explain.base import make_explainer  # noqa: E402
from deepaudit.audit.huggingface import HFTokenizer, from_huggingface  # noqa: E402
from deepaudit.audit.testing import zoo  # noqa: E402
from deepaudit.audit.tokenizer import PAD_ID, UNK_ID, check_tokenizer  # noqa: E402
from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL  # noqa: E402

TEXTS = ["A wonderful, moving film; the acting was superb.", "Dull. I walked out after twenty minutes!",
         "Not bad at all", "Zyxwvut Quackenbush directed it, and it shows."]


@pytest.fixture(scope="module")
def bert_dir():
    return zoo.huggingface_directory()


@pytest.fixture(scope="module")
def bert(bert_dir):
    ev = zoo.reviews(24, seed=5)
    texts = TEXTS + list(ev.text)
    labels = np.r_[[1, 0, 1, 0], ev.label.to_numpy()]
    return from_huggingface(bert_dir, texts, labels, favorable_label="positive").validate()


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory):
    """A tiny RoBERTa classifier with a byte-level BPE tokenizer trained here (<s> ... </s>, padding id 1)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    texts = list(zoo.reviews(300, seed=3).text)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=700, special_tokens=["<s>", "<pad>", "</s>",
                                                                                       "<unk>", "<mask>"]))
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")), trim_offsets=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
                                   model_max_length=64)
    torch.manual_seed(1)
    config = RobertaConfig(vocab_size=700, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=66, pad_token_id=1, num_labels=3,
                           id2label={0: "negative", 1: "neutral", 2: "positive"})
    out = tmp_path_factory.mktemp("roberta")
    RobertaForSequenceClassification(config).eval().save_pretrained(out)
    fast.save_pretrained(out)
    return out


def _native(directory, texts, max_length):
    model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    enc = tok(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits, model, tok


@pytest.mark.parametrize("which", ["bert", "roberta"])
def test_wrapper_gives_the_transformers_own_logits(which, bert_dir, roberta_dir):
    """Ids in deepaudit's numbering through the wrapper == the transformer called through its tokenizer (special
    tokens, attention mask, positions), for a whole batch, one row at a time and with any amount of padding."""
    directory = bert_dir if which == "bert" else roberta_dir
    texts = TEXTS + [" ".join(["long"] * 200)]                          # one text past max_length: truncated
    target = from_huggingface(directory, texts, [0] * len(texts))
    want, _, _ = _native(directory, texts, target.provenance["max_length"])
    ids = target.eval_data.inputs
    with torch.no_grad():
        batch = target.model(ids)
        rows = torch.cat([target.model(ids[i:i + 1]) for i in range(len(ids))])
        wider = target.model(torch.cat([ids, torch.zeros(len(ids), 7, dtype=torch.long)], 1))
    for got in (batch, rows, wider):
        torch.testing.assert_close(got, want, rtol=FLOAT32_RTOL * 10, atol=1e-5)
    if which == "roberta":
        assert target.class_names == ["negative", "neutral", "positive"]
        assert target.tokenizer.prefix_ids == [0] and target.tokenizer.suffix_ids == [2]


def test_tokens_are_the_models_word_pieces_without_special_tokens(bert):
    tok = bert.tokenizer
    check_tokenizer(tok)
    text = TEXTS[3]
    pieces = tok.tokens(text)
    ids = tok.encode([text])[0]
    assert len(pieces) == int((ids != PAD_ID).sum())
    assert not {"[CLS]", "[SEP]", "[PAD]"} & {p.text for p in pieces}
    for p, i in zip(pieces, ids.tolist()):
        assert tok.itos[i] == p.text and text[p.start:p.end].lower() == p.text.removeprefix("##")
    # a surname never seen in training is read as word pieces, not as the unknown token
    assert UNK_ID not in ids.tolist() and any(p.text.startswith("##") for p in pieces)
    # the model's own tokenizer agrees, special tokens aside
    hf = AutoTokenizer.from_pretrained(bert.provenance["huggingface"]["directory"])
    assert [tok.itos[i] for i in ids[ids != PAD_ID].tolist()] == hf.tokenize(text)


def test_layer_ig_equals_captum_on_the_transformer_with_the_usual_baseline(bert):
    """Oracle: captum's LayerIntegratedGradients on the transformer's word embeddings, called with input_ids and
    attention_mask, baseline [CLS] [PAD]... [SEP]. Its special-token positions get exactly zero (they equal the
    baseline); its text positions equal deepaudit's attributions, which never include special tokens."""
    x = bert.eval_data.inputs[:4]
    cls = torch.tensor([1, 0, 1, 0])
    ours = make_explainer("integrated_gradients", bert).attribute(x, target=cls, n_steps=32)
    hf = bert.model.hf
    hf_tok = bert.tokenizer.hf
    enc = hf_tok(TEXTS, truncation=True, max_length=bert.provenance["max_length"], padding=True,
                 return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    special = torch.tensor([hf_tok.cls_token_id, hf_tok.sep_token_id])
    base = torch.where(torch.isin(ids, special) | (mask == 0), ids, torch.full_like(ids, hf_tok.pad_token_id))

    def forward(input_ids, attention_mask):
        return hf(input_ids=input_ids, attention_mask=attention_mask).logits

    lig = LayerIntegratedGradients(forward, hf.get_input_embeddings())
    want = lig.attribute(ids, baselines=base, target=cls, additional_forward_args=(mask,), n_steps=32,
                         method="gausslegendre").sum(-1)
    for row in range(4):
        n = int(mask[row].sum()) - 2
        assert float(want[row, 0]) == 0.0 and float(want[row, n + 1]) == 0.0      # [CLS], [SEP]: x == baseline
        np.testing.assert_allclose(ours[row, :n].numpy(), want[row, 1:n + 1].detach().numpy(),
                                   rtol=1e-4, atol=1e-6)
        assert (ours[row, n:] == 0).all()                                        # padding: no attribution
        assert ours[row, :n].abs().sum() > 0


def test_completeness_holds_for_ig_and_for_shap_with_the_mask_token(bert):
    from deepaudit.audit.quality.completeness import attribution_completeness, ig_completeness

    x = bert.eval_data.inputs[:6]
    cls = bert.logits(x).argmax(1)
    ig = ig_completeness(bert, x, cls)
    assert ig.checks[0].passed, ig.summary
    explainer = make_explainer("shap", bert, seed=0, max_evals=200)
    attr = explainer.attribute(x, target=cls, texts=bert.eval_data.raw[:6])
    assert explainer.audit_target.tokenizer.mask_token == "[MASK]"
    res = attribution_completeness(bert, "shap", x, attr, target=cls, explainer=explainer)
    assert "[MASK]" in res.summary["reference"] and res.checks[0].passed, res.summary
    for row in range(6):   # one value per word piece, none on padding
        n = int((x[row] != PAD_ID).sum())
        assert (attr[row, n:] == 0).all() and attr[row, :n].abs().sum() > 0


def test_clear_errors(tmp_path, bert_dir):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        from_huggingface(tmp_path, ["a"], [0])
    with pytest.raises(ValueError, match="class_names has 3 names but the model has 2 labels"):
        from_huggingface(bert_dir, ["a"], [0], class_names=["a", "b", "c"])

    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="not a fast tokenizer"):
        HFTokenizer(Slow(), max_length=16)
    with pytest.raises(TypeError, match="list of str"):
        from_huggingface(bert_dir, ["fine", 3], [0, 1])


def test_counterfactual_names_reach_the_model_as_word_pieces(bert):
    from deepaudit.audit.fairness.counterfactual import counterfactual_probe

    res = counterfactual_probe(bert, attribute="gender", n_boot=50, explain=False)
    assert len(res.groups) == 2 and (res.groups["oov_share"] == 0).all()


@pytest.mark.slow
def test_training_recipe_smoke_and_audit_from_its_directory(tmp_path):
    from deepaudit.models.nlp import bert_train

    meta = bert_train.main(["--smoke", "--out", str(tmp_path)])
    assert {"config.json", "model.safetensors", "tokenizer.json", "model.json"} <= {p.name for p in
                                                                                       tmp_path.iterdir()}
    assert 0 <= meta["metrics"]["accuracy"] <= 1
    target = from_huggingface(tmp_path, TEXTS, [1, 0, 1, 0], favorable_label="positive").validate()
    assert set(target.provenance["huggingface"]["files_sha256"]) >= {"config.json", "model.safetensors"}
    assert FLOAT32_ATOL > 0   # the tolerance module is the one the other comparisons use


@pytest.mark.slow
def test_every_text_method_audits_the_transformer(tmp_path):
    """All seven text methods on the zoo's BERT in one audit: each explained, each with its quality checks or a
    stated reason, every stored attribution zero on padding."""
    from deepaudit.audit.runner import RunConfig, audit_target
    from deepaudit.audit.store import RunStore

    methods = ["integrated_gradients", "saliency", "input_x_gradient", "deeplift", "gradient_shap", "occlusion",
               "shap"]
    target = zoo.huggingface_text()
    store = RunStore(tmp_path / "runs")
    result = audit_target(target, RunConfig(progress=False, samples=6, quality_samples=4, methods=methods),
                          store=store)
    assert set(result.explanations.methods) == set(methods)
    for m in methods:
        a = result.arrays(f"attr_{m}")["attributions"]
        ids = target.eval_data.inputs[: len(a)].numpy()
        assert np.isfinite(a).all() and (a[ids == PAD_ID] == 0).all(), m
        assert np.abs(a).sum() > 0, m
    covered = {c.method for c in result.checks if c.family.startswith(("completeness", "deletion"))}
    assert {"integrated_gradients", "shap", "gradient_shap"} <= covered
