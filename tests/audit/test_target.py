"""The audit-target protocol: user targets from a file or an entry point, and validation errors."""
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

from deepaudit.audit.device import resolve_device
from deepaudit.audit.target import AuditTarget, EvalData, load_target

USER_FILE = textwrap.dedent('''
    import numpy as np, pandas as pd, torch
    from deepaudit.audit.target import AuditTarget, EvalData

    def factory():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        x = torch.randn(20, 3)
        return AuditTarget(
            name="my_scorer", domain="finance", task="toy credit", class_names=["deny", "approve"],
            favorable_label="approve", model=model,
            eval_data=EvalData(inputs=x, labels=np.arange(20) % 2,
                               groups=pd.DataFrame({"sex": ["f", "m", None, "m"] * 5})),
            sensitive_columns=["sex"], feature_names=["a", "b", "c"])

    def wrong():
        return {"model": "not a target"}
''')


def make_target(**kw):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    data = kw.pop("eval_data") if "eval_data" in kw else EvalData(
        inputs=torch.randn(6, 3), labels=np.array([0, 1] * 3), groups=pd.DataFrame({"g": list("aabbcc")}))
    args = dict(name="t", domain="other", task="toy", class_names=["no", "yes"], favorable_label="yes",
                model=model, eval_data=data)
    args.update(kw)
    return AuditTarget(**args)


def test_user_target_from_file(tmp_path):
    path = tmp_path / "my_target.py"
    path.write_text(USER_FILE)
    target = load_target(f"{path}:factory", device="cpu")
    assert target.name == "my_scorer"
    assert target.logits().shape == (20, 2)
    # Provenance hashes are filled in for user models.
    assert len(target.provenance["weights_sha256"]) == 64
    assert len(target.provenance["data_sha256"]) == 64


def test_a_target_file_imports_modules_kept_beside_it(tmp_path):
    """The folder of file.py is importable (as for ``python file.py``), at load time and inside the factory."""
    import subprocess

    sub = tmp_path / "proj"
    sub.mkdir()
    (sub / "acme_net_beside.py").write_text("import torch\nclass Net(torch.nn.Linear):\n"
                                            "    def __init__(self):\n        super().__init__(3, 2)\n")
    (sub / "acme_data_beside.py").write_text("import torch\ndef rows():\n    return torch.randn(20, 3)\n")
    (sub / "target.py").write_text(
        "import numpy as np, pandas as pd\nfrom deepaudit.audit.target import AuditTarget, EvalData\n"
        "from acme_net_beside import Net\n"
        "def factory():\n    from acme_data_beside import rows  # imported lazily, inside the factory\n"
        "    return AuditTarget(name='beside', domain='other', task='t', class_names=['no', 'yes'],\n"
        "        favorable_label='yes', model=Net(), eval_data=EvalData(inputs=rows(), labels=np.arange(20) % 2,\n"
        "        groups=pd.DataFrame({'g': ['a', 'b'] * 10})), sensitive_columns=['g'])\n")
    # from another working directory, in a fresh process (nothing cached from this one)
    res = subprocess.run([sys.executable, "-m", "deepaudit.audit.cli", "describe", "proj/target.py:factory",
                          "--device", "cpu"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert '"name": "beside"' in res.stdout


class _PairsOnly(torch.nn.Module):
    """Right only for batches of two rows (a reshape written for the batch it was tried on)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x).reshape(2, -1)


class _CastsInside(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x.float())


class _Lookup(torch.nn.Module):
    """Integer category ids looked up in an embedding: cannot take float inputs."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 2)

    def forward(self, x):
        return self.emb(x).sum(1)


def test_describe_catches_what_run_would_fail_on():
    with pytest.raises(ValueError, match="for a batch of 1 inputs"):
        make_target(model=_PairsOnly()).validate()
    # integer rows for a model that casts inside: cast to float32, with a note the run keeps
    ints = EvalData(inputs=torch.arange(18).reshape(6, 3), labels=np.array([0, 1] * 3),
                    groups=pd.DataFrame({"g": list("aabbcc")}))
    t = make_target(model=_CastsInside(), eval_data=ints).validate()
    assert t.eval_data.inputs.dtype == torch.float32 and "cast to torch.float32" in t.provenance["inputs_cast"]
    # integer ids for an embedding lookup: refused before any compute, naming the fix
    ids = EvalData(inputs=torch.arange(18).reshape(6, 3) % 10, labels=np.array([0, 1] * 3),
                   groups=pd.DataFrame({"g": list("aabbcc")}))
    with pytest.raises(ValueError, match="gradient-based attributions need floating inputs.*set embedding_layer"):
        make_target(model=_Lookup(), eval_data=ids).validate()


def test_describe_cli_loads_a_user_file(tmp_path):
    import json
    import subprocess

    path = tmp_path / "my_target.py"
    path.write_text(USER_FILE)
    res = subprocess.run([sys.executable, "-m", "deepaudit.audit.cli", "describe", f"{path}:factory",
                          "--device", "cpu"],
                         capture_output=True, text=True, check=True)
    info = json.loads(res.stdout)
    assert info["name"] == "my_scorer" and info["n_eval"] == 20
    # The missing sex values are counted, not dropped.
    assert info["group_sizes"]["sex"] == {"m": 10, "f": 5, "unknown": 5}


def test_user_factory_returning_wrong_type(tmp_path):
    path = tmp_path / "my_target.py"
    path.write_text(USER_FILE)
    with pytest.raises(TypeError) as e:
        load_target(f"{path}:wrong")
    assert "returned dict, not an deepaudit.audit.target.AuditTarget" in str(e.value)


def test_missing_factory_and_missing_file(tmp_path):
    path = tmp_path / "my_target.py"
    path.write_text(USER_FILE)
    with pytest.raises(ValueError, match="defines no callable 'nope'"):
        load_target(f"{path}:nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_target(f"{tmp_path}/absent.py:factory")


def test_entry_point_target(tmp_path, monkeypatch):
    (tmp_path / "acme_targets.py").write_text(USER_FILE)
    dist = tmp_path / "acme_targets-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-targets\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[deepaudit.targets]\nacme = acme_targets:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    target = load_target("acme", device="cpu")
    assert target.name == "my_scorer"
    sys.modules.pop("acme_targets", None)


def test_unknown_spec_lists_bundled_models():
    with pytest.raises(ValueError) as e:
        load_target("no_such_model")
    assert "mortgage" in str(e.value) and "path/to/file.py:factory" in str(e.value)


@pytest.mark.parametrize("kw, exc, fragment", [
    (dict(model="not a model"), TypeError, "must be a torch.nn.Module"),
    (dict(domain=""), ValueError, "domain must be a short non-empty label"),
    (dict(domain=7), ValueError, "domain must be a short non-empty label"),
    (dict(data_kind="audio"), ValueError, "data_kind 'audio' is not one of"),
    (dict(data_kind="image"), ValueError, "does not match its inputs of shape"),
    (dict(class_names=["a", "a"]), ValueError, "distinct strings"),
    (dict(favorable_label="maybe"), ValueError, "favorable_label 'maybe'"),
    (dict(eval_data=EvalData(inputs=torch.empty(0, 3), labels=np.array([], dtype=int))), ValueError,
     "is empty"),
    (dict(eval_data=EvalData(inputs=torch.tensor([[0.0, float("nan"), 1.0]] * 2), labels=np.array([0, 1]))),
     ValueError, "non-finite values"),
    (dict(eval_data=EvalData(inputs=torch.randn(2, 3), labels=np.array([0, 5]))), ValueError,
     "integers in [0, 2)"),
    (dict(eval_data=EvalData(inputs=torch.randn(3, 3), labels=np.array([0, 1]))), ValueError,
     "3 inputs but labels has 2 rows"),
    (dict(eval_data=EvalData(inputs=torch.randn(2, 4), labels=np.array([0, 1]))), ValueError,
     "model failed"),
    (dict(class_names=["a", "b", "c"], favorable_label=None), ValueError, "logits of shape (2, 3)"),
    (dict(sensitive_columns=["race"]), ValueError, "sensitive column 'race' is not in"),
    (dict(gradcam_layer="features.conv9"), ValueError, "not a submodule"),
])
def test_validation_errors_name_the_problem(kw, exc, fragment):
    with pytest.raises(exc) as e:
        make_target(**kw).validate()
    assert fragment in str(e.value)


def test_nan_error_points_at_first_bad_sample():
    x = torch.randn(5, 3)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="first in sample 3"):
        make_target(eval_data=EvalData(inputs=x, labels=np.array([0, 1, 0, 1, 0]))).validate()


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="invalid device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError) as e:
            resolve_device("cuda")
        assert "--device cpu" in str(e.value)


@pytest.mark.parametrize("column", ["sample_id", "y_true", "y_pred", "score", "prob_yes", "prob_no", "prob_other"])
def test_group_column_with_a_reserved_name_is_refused(column):
    """A groups column named like a predictions column would silently overwrite it in predictions.parquet."""
    data = EvalData(inputs=torch.randn(4, 3), labels=np.array([0, 1, 0, 1]),
                    groups=pd.DataFrame({"g": list("abab"), column: list("xyxy")}))
    with pytest.raises(ValueError) as e:
        make_target(eval_data=data, sensitive_columns=["g"]).validate()
    assert f"column named {column!r}" in str(e.value) and "Fix: rename that column" in str(e.value)


def test_group_column_near_a_reserved_name_is_accepted():
    data = EvalData(inputs=torch.randn(4, 3), labels=np.array([0, 1, 0, 1]),
                    groups=pd.DataFrame({"scores": list("abab"), "probability": list("xyxy")}))
    make_target(eval_data=data, sensitive_columns=["scores"]).validate()


def test_bundled_names_are_installed_targets():
    from deepaudit.audit.target import is_installed_spec, list_targets

    assert {"mnist_cnn", "mnist_cnn_shortcut", "mortgage", "sentiment"} <= set(list_targets())
    assert is_installed_spec("mortgage") and not is_installed_spec("no_such_model")
    assert not is_installed_spec("/tmp/x.py:factory")


def test_a_bundled_models_own_error_is_passed_on(monkeypatch):
    """A bundled model's error already names its fix (e.g. reinstall): it is not re-worded as a bug in user code."""
    import deepaudit.models.registry as R

    def missing(name, *, device="auto"):
        raise FileNotFoundError(R.META_MISSING.format(path="mortgage.json", name=name))

    monkeypatch.setattr(R, "get_target", missing)
    with pytest.raises(FileNotFoundError) as e:
        load_target("mortgage", device="cpu")
    assert "Fix: reinstall deepaudit" in str(e.value) and "correct the code there" not in str(e.value)


def test_unknown_spec_with_no_installed_target(monkeypatch):
    import deepaudit.audit.target as T

    monkeypatch.setattr(T, "entry_points", lambda group=None: [])
    with pytest.raises(ValueError) as e:
        load_target("mortgage")
    assert "none is installed" in str(e.value) and "path/to/file.py:factory" in str(e.value)


class _Probabilities(torch.nn.Module):
    """A classifier that ends in softmax: its outputs are probabilities, not logits."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.softmax(self.lin(x), 1)


class _LogProbabilities(_Probabilities):
    def forward(self, x):
        return torch.log_softmax(self.lin(x), 1)


class _Bag(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(10, 4)
        self.out = torch.nn.Linear(4, 2)

    def forward(self, ids):
        return self.out(self.bag(ids.long()))


def test_a_model_that_returns_probabilities_is_refused_with_the_fix():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"look like probabilities.*torch.log\(probabilities\)"):
        make_target(model=_Probabilities()).validate()
    # the fix it names works: log-probabilities are logits of the same softmax
    assert make_target(model=_LogProbabilities()).validate().logits().shape == (6, 2)


def test_a_constant_output_is_not_called_probabilities():
    from deepaudit.audit.target import looks_like_probabilities

    assert not looks_like_probabilities(torch.tensor([[0.0, 1.0]] * 3))     # a constant stub's logits
    assert not looks_like_probabilities(torch.tensor([[0.2, 0.7], [0.3, 0.6]]))   # in [0, 1], rows do not sum to 1
    assert looks_like_probabilities(torch.tensor([[0.25, 0.75], [0.9, 0.1]]))


def test_a_float64_model_that_fails_on_float32_is_refused_before_any_compute():
    data = EvalData(inputs=torch.randn(6, 3, dtype=torch.float64), labels=np.array([0, 1] * 3))
    with pytest.raises(ValueError, match=r"float64.*fails on float32 inputs.*model.float\(\)"):
        make_target(model=torch.nn.Linear(3, 2).double(), eval_data=data).validate()
    # one that casts what it is given is audited (audit/testing/zoo.py: float64_model runs end to end)
    from deepaudit.audit.testing import zoo

    assert zoo.float64_model().logits().shape[1] == 2


def test_an_embedding_bag_is_refused_as_embedding_layer():
    data = EvalData(inputs=torch.randint(0, 10, (6, 5)), labels=np.array([0, 1] * 3))
    with pytest.raises(ValueError, match="nn.EmbeddingBag"):
        make_target(model=_Bag(), eval_data=data, embedding_layer="bag").validate()


@pytest.mark.parametrize("values", [[None] * 6, [np.nan, "", " ", "unknown", None, np.nan]])
def test_an_all_missing_sensitive_column_is_refused_by_validate(values):
    data = EvalData(inputs=torch.randn(6, 3), labels=np.array([0, 1] * 3),
                    groups=pd.DataFrame({"g": list("aabbcc"), "race": pd.Series(values, dtype=object)}))
    with pytest.raises(ValueError, match="sensitive column 'race' has no known value"):
        make_target(eval_data=data, sensitive_columns=["race"]).validate()
    # as a cohort column it is allowed (the run skips and records it)
    make_target(eval_data=data, cohort_columns=["race"]).validate()


def test_a_model_with_zero_dim_tensors_is_hashed():
    """BatchNorm's num_batches_tracked and a temperature scalar are 0-dim; hashing them used to raise."""
    from deepaudit.audit.weights import sha256_state_dict

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    model.register_buffer("temperature", torch.tensor(1.5))
    target = make_target(model=model).validate()
    assert len(target.provenance["weights_sha256"]) == 64
    # tensors with a dimension hash exactly as before the fix (stored runs keep their weights hash)
    import hashlib

    w = model[0].weight.detach().contiguous()
    h = hashlib.sha256()
    h.update(f"w|{w.dtype}|{tuple(w.shape)}|".encode())
    h.update(w.view(torch.uint8).numpy().tobytes())
    assert sha256_state_dict({"w": w}) == h.hexdigest()
    assert sha256_state_dict({"t": torch.tensor(1.5)}) != sha256_state_dict({"t": torch.tensor(2.5)})
