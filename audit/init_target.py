"""``deepaudit init-target NAME --kind tabular|text|image|huggingface``: write a commented target file to fill in.

The file defines ``factory(device="cpu") -> AuditTarget``. Every place the user must fill in is marked
``TODO`` and, until filled, raises ``NotImplementedError`` naming the file and what to provide, so
``deepaudit describe NAME.py:factory`` fails with that message instead of a traceback deep in the audit.
Once the TODOs are filled, ``describe`` validates the target and ``deepaudit run NAME.py:factory`` audits it.
Modules kept beside the file can be imported from it (the file's folder is importable).
"""
from __future__ import annotations

import keyword
import re
from pathlib import Path

KINDS = ("tabular", "text", "image", "huggingface")
BAD_NAME = ("target name {name!r} must be a Python identifier (letters, digits, underscores; not starting with a "
            "digit). Fix: e.g. deepaudit init-target my_model --kind {kind}.")
BAD_KIND = "unknown kind {kind!r}. Fix: use one of {kinds}."
EXISTS = "{path} already exists; nothing was written. Fix: choose another name, or pass --force to overwrite it."

_HEAD = '''"""deepaudit target "{name}" ({kind}). Fill in every TODO, then check and audit it:

    deepaudit describe {file}:factory     # validates the target and prints what it provides
    deepaudit run {file}:factory          # the audit; reports with: deepaudit report latest:{name}

Until a TODO is filled it raises NotImplementedError naming what to provide. Modules you keep beside this
file can be imported here (its folder is importable). What the audit computes follows from what the target
provides (see the README, "Audit your own model"); `domain` is only a label for readers.
"""
import numpy as np
import pandas as pd
import torch

from deepaudit.audit.target import AuditTarget, EvalData
from deepaudit.audit.weights import load_state_dict_checked, read_state_dict

NAME = "{name}"
FILE = "{file}"

# The model card: shown at the top of every report. Replace each TODO with a sentence.
CARD = {{
    "intended_use": "TODO: what the model decides, for whom, and who uses the decision.",
    "out_of_scope": "TODO: uses the model is not validated for.",
    "limitations": "TODO: known weaknesses (data coverage, groups with few examples, drift).",
    "architecture": "TODO: e.g. MLP 64-32, ReLU, dropout 0.1, 5,602 parameters.",
    "training_data": "TODO: source, period, number of rows, label definition.",
    "version": "TODO: model version or training run id.",
}}


def todo(what: str):
    raise NotImplementedError(f"TODO in {{FILE}}: {{what}}")


def filled(target: AuditTarget) -> AuditTarget:
    """The target, once no TODO is left in its names, labels and card."""
    values = {{"domain": target.domain, "task": target.task, "class_names": target.class_names,
              "favorable_label": target.favorable_label, "embedding_layer": target.embedding_layer,
              **{{f"card {{k}}": v for k, v in target.provenance.get("card", {{}}).items()}}}}
    left = [k for k, v in values.items()
            if any(str(x).startswith("TODO") for x in (v if isinstance(v, (list, tuple)) else [v]))]
    if left:
        todo("replace the TODO values of " + ", ".join(left))
    return target

'''

_LOAD_MODEL = '''

def load_model() -> torch.nn.Module:
    # TODO: build your network and load its trained weights, for example
    #   from my_net import MyNet                      # a module kept beside this file
    #   model = MyNet()
    #   load_state_dict_checked(model, read_state_dict("my_net.safetensors"), source="my_net.safetensors")
    #   return model
    todo("load_model() must return your torch.nn.Module with its trained weights loaded")
'''

_TABULAR = '''

# TODO: the model's input columns, in the order preprocess() puts them.
FEATURE_NAMES: list[str] = []
# Optional, what the inputs mean (reports and the dashboard show these): labels with units, coded values, and
# "geographic" for inputs that describe where someone lives (they can stand in for race).
FEATURE_LABELS: dict[str, str] = {{}}   # e.g. {{"loan_amt": "loan amount ($1000s)"}}
FEATURE_CODES: dict[str, dict[str, str]] = {{}}   # e.g. {{"owner": {{"0": "no", "1": "yes"}}}}
FEATURE_FLAGS: dict[str, str] = {{}}   # e.g. {{"zip_income": "geographic"}}


def load_data() -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    # TODO: the evaluation rows the audit scores (held out from training):
    #   raw     DataFrame of raw input columns (what preprocess() reads), one row per person
    #   labels  int array of true classes (index into CLASS_NAMES)
    #   groups  DataFrame of sensitive attributes (e.g. sex, race), same rows; missing values are kept as unknown
    todo("load_data() must return (raw rows, integer labels, sensitive-attribute DataFrame)")


def preprocess(raw: pd.DataFrame) -> torch.Tensor:
    # TODO: raw rows -> the model's input tensor (float32, one row per sample), exactly as in training.
    todo("preprocess(raw) must turn raw rows into the model's float32 input tensor")


CLASS_NAMES = ["TODO_unfavourable", "TODO_favourable"]   # one name per model output, in logit order
FAVORABLE_LABEL = "TODO_favourable"                     # the outcome a person wants, or None
SENSITIVE_COLUMNS: list[str] = []                       # TODO: columns of groups to audit for fairness


def factory(device: str = "cpu") -> AuditTarget:
    raw, labels, groups = load_data()
    return filled(AuditTarget(
        name=NAME, domain="TODO: a label such as credit", task="TODO: e.g. personal loan approval",
        class_names=CLASS_NAMES, favorable_label=FAVORABLE_LABEL, model=load_model().to(device),
        eval_data=EvalData(inputs=preprocess(raw), labels=labels, groups=groups, raw=raw),
        sensitive_columns=SENSITIVE_COLUMNS, preprocess=preprocess, feature_names=FEATURE_NAMES,
        provenance={{"card": CARD, "feature_labels": FEATURE_LABELS, "feature_codes": FEATURE_CODES,
                     "feature_flags": FEATURE_FLAGS}},
        data_kind="tabular"))
'''

_IMAGE = '''

# How the model's input was normalised (per channel), so reports can say what the pixels mean.
MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)   # TODO: your normalisation, e.g. ImageNet's


def load_data() -> tuple[torch.Tensor, np.ndarray, pd.DataFrame]:
    # TODO: the evaluation images as one float tensor (N, C, H, W), already normalised as in training; the integer
    # labels; and a DataFrame of cohorts or sensitive attributes per image (e.g. skin tone, camera, site).
    todo("load_data() must return (images (N, C, H, W), integer labels, groups DataFrame)")


CLASS_NAMES = ["TODO_class_a", "TODO_class_b"]   # one name per model output, in logit order
FAVORABLE_LABEL = None                           # an image classifier usually has no favourable outcome
COHORT_COLUMNS: list[str] = []                   # TODO: columns of groups to compare accuracy across
GRADCAM_LAYER = None                             # None: the last convolution is found and recorded


def factory(device: str = "cpu") -> AuditTarget:
    images, labels, groups = load_data()
    return filled(AuditTarget(
        name=NAME, domain="TODO: a label such as medical imaging", task="TODO: e.g. lesion classification",
        class_names=CLASS_NAMES, favorable_label=FAVORABLE_LABEL, model=load_model().to(device),
        eval_data=EvalData(inputs=images, labels=labels, groups=groups), cohort_columns=COHORT_COLUMNS,
        gradcam_layer=GRADCAM_LAYER, provenance={{"card": CARD, "normalisation": {{"mean": MEAN, "std": STD}}}},
        data_kind="image"))
'''

_TEXT = '''

EMBEDDING_LAYER = "TODO.embedding"   # dotted name of the model's token embedding (nn.Embedding)


def load_tokenizer():
    # TODO: an object with encode(list_of_texts) -> LongTensor (N, max_tokens) of token ids (0 = padding) and
    # itos (id -> token string) for token attributions, e.g. deepaudit.audit.tokenizer.Vocabulary; or None if you only
    # have
    # token ids (no counterfactual word-swap probes then).
    todo("load_tokenizer() must return your tokenizer (encode, itos) or None")


def load_data() -> tuple[list[str], np.ndarray, pd.DataFrame]:
    # TODO: the evaluation texts, their integer labels, and a DataFrame of cohorts per text (e.g. source).
    todo("load_data() must return (texts, integer labels, groups DataFrame)")


CLASS_NAMES = ["TODO_negative", "TODO_positive"]   # one name per model output, in logit order
FAVORABLE_LABEL = "TODO_positive"                  # the outcome a person wants, or None
COHORT_COLUMNS: list[str] = []


def factory(device: str = "cpu") -> AuditTarget:
    texts, labels, groups = load_data()
    tokenizer = load_tokenizer()
    ids = tokenizer.encode(texts)
    return filled(AuditTarget(
        name=NAME, domain="TODO: a label such as reviews", task="TODO: e.g. review sentiment",
        class_names=CLASS_NAMES, favorable_label=FAVORABLE_LABEL, model=load_model().to(device),
        eval_data=EvalData(inputs=ids, labels=labels, groups=groups), cohort_columns=COHORT_COLUMNS,
        preprocess=tokenizer.encode, tokenizer=tokenizer, embedding_layer=EMBEDDING_LAYER,
        baseline=torch.zeros(ids.shape[1], dtype=torch.long), provenance={{"card": CARD}}, data_kind="text"))
'''

_HUGGINGFACE = '''

# TODO: the directory your model and tokenizer were saved to with save_pretrained(...) (config.json,
# model.safetensors, tokenizer.json). Any AutoModelForSequenceClassification with a fast tokenizer; nothing is
# downloaded. Special tokens, padding and attention masks are handled by deepaudit (deepaudit.audit.huggingface).
MODEL_DIR = "TODO/path/to/saved/model"


def load_data() -> tuple[list[str], np.ndarray, pd.DataFrame]:
    # TODO: the evaluation texts, their integer labels (the model's label ids), and a DataFrame of cohorts or
    # sensitive attributes per text (e.g. source, dialect), same rows.
    todo("load_data() must return (texts, integer labels, groups DataFrame)")


CLASS_NAMES = None                  # None: the model's config.id2label; or one name per label id
FAVORABLE_LABEL = "TODO_positive"   # the outcome a person wants (one of the class names), or None
COHORT_COLUMNS: list[str] = []      # TODO: columns of groups to compare accuracy across
SENSITIVE_COLUMNS: list[str] = []


def factory(device: str = "cpu") -> AuditTarget:
    from deepaudit.audit.huggingface import from_huggingface

    texts, labels, groups = load_data()
    if MODEL_DIR.startswith("TODO"):
        todo("set MODEL_DIR to the directory given to save_pretrained")
    return filled(from_huggingface(
        MODEL_DIR, texts, labels, groups, name=NAME, domain="TODO: a label such as support tickets",
        task="TODO: e.g. ticket urgency", class_names=CLASS_NAMES, favorable_label=FAVORABLE_LABEL,
        cohort_columns=COHORT_COLUMNS, sensitive_columns=SENSITIVE_COLUMNS, provenance={{"card": CARD}},
        device=device))
'''

BODIES = {"tabular": _TABULAR, "image": _IMAGE, "text": _TEXT, "huggingface": _HUGGINGFACE}


def render(name: str, kind: str, file: str) -> str:
    """The target file's text for ``name`` of ``kind``, naming itself ``file`` in its messages."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or "") or keyword.iskeyword(name):
        raise ValueError(BAD_NAME.format(name=name, kind=kind))
    if kind not in KINDS:
        raise ValueError(BAD_KIND.format(kind=kind, kinds=list(KINDS)))
    # A Hugging Face target loads its model from MODEL_DIR: no load_model() to fill in.
    head = _HEAD if kind == "huggingface" else _HEAD + _LOAD_MODEL
    return (head + BODIES[kind]).format(name=name, kind=kind, file=file)


def write_target(name: str, kind: str, *, directory: str | Path = ".", force: bool = False) -> Path:
    """Write ``<directory>/<name>.py`` for ``kind``; refuse to overwrite an existing file unless ``force``."""
    path = Path(directory) / f"{name}.py"
    text = render(name, kind, path.as_posix())
    if path.exists() and not force:
        raise FileExistsError(EXISTS.format(path=path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
