"""`deepaudit init-target`: a commented target file that `describe` refuses (naming the TODO) until it is filled,
then accepts; filled here the way a user would, with a model module kept beside the file."""
import json
import subprocess
import sys

import pytest

from deepaudit.audit.init_target import KINDS, render, write_target

MODEL_MODULE = '''import torch
class ToyNet(torch.nn.Module):
    def __init__(self, n_in=3, n_out=2):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_in, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_out))
    def forward(self, x):
        return self.body(x)
class ToyCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    def forward(self, x):
        return self.head(torch.relu(self.conv(x)))
'''

FILL = {
    "tabular": [
        ('    todo("load_model() must return your torch.nn.Module with its trained weights loaded")',
         "    from toy_net import ToyNet\n    torch.manual_seed(0)\n    return ToyNet()"),
        ('    todo("load_data() must return (raw rows, integer labels, sensitive-attribute DataFrame)")',
         "    rng = np.random.default_rng(0)\n"
         "    raw = pd.DataFrame({'income': rng.normal(50, 10, 60), 'debt': rng.uniform(0, 1, 60),"
         " 'age': rng.integers(20, 70, 60).astype(float)})\n"
         "    return raw, (raw['income'] > 50).to_numpy().astype(np.int64),"
         " pd.DataFrame({'sex': rng.choice(['f', 'm'], 60)})"),
        ('    todo("preprocess(raw) must turn raw rows into the model\'s float32 input tensor")',
         "    return torch.tensor(((raw - 40) / 20).to_numpy(), dtype=torch.float32)"),
        ("FEATURE_NAMES: list[str] = []", "FEATURE_NAMES = ['income', 'debt', 'age']"),
        ('CLASS_NAMES = ["TODO_unfavourable", "TODO_favourable"]', 'CLASS_NAMES = ["declined", "approved"]'),
        ('FAVORABLE_LABEL = "TODO_favourable"', 'FAVORABLE_LABEL = "approved"'),
        ("SENSITIVE_COLUMNS: list[str] = []", "SENSITIVE_COLUMNS = ['sex']"),
        ('domain="TODO: a label such as credit", task="TODO: e.g. personal loan approval"',
         'domain="credit", task="toy approval"'),
    ],
    "image": [
        ('    todo("load_model() must return your torch.nn.Module with its trained weights loaded")',
         "    from toy_net import ToyCNN\n    torch.manual_seed(0)\n    return ToyCNN()"),
        ('    todo("load_data() must return (images (N, C, H, W), integer labels, groups DataFrame)")',
         "    g = torch.Generator().manual_seed(0)\n    x = torch.rand(30, 3, 16, 16, generator=g)\n"
         "    return x, np.arange(30) % 2, pd.DataFrame({'site': ['a', 'b', 'c'] * 10})"),
        ('CLASS_NAMES = ["TODO_class_a", "TODO_class_b"]', 'CLASS_NAMES = ["benign", "other"]'),
        ('domain="TODO: a label such as medical imaging", task="TODO: e.g. lesion classification"',
         'domain="imaging", task="toy lesion check"'),
    ],
}


def _fill_card(text: str) -> str:
    for key in ("intended_use", "out_of_scope", "limitations", "architecture", "training_data", "version"):
        start = text.index(f'    "{key}": "TODO')
        end = text.index('",\n', start)
        text = text[:start] + f'    "{key}": "{key} written by the test' + text[end:]
    return text

HF_FILL = [
    ('MODEL_DIR = "TODO/path/to/saved/model"', 'MODEL_DIR = "MODEL_DIR_HERE"'),
    ('    todo("load_data() must return (texts, integer labels, groups DataFrame)")',
     "    texts = ['a fine film', 'dull and long', 'great acting', 'a waste of time'] * 5\n"
     "    return texts, np.array([1, 0, 1, 0] * 5), pd.DataFrame({'source': ['web', 'print'] * 10})"),
    ('FAVORABLE_LABEL = "TODO_positive"', 'FAVORABLE_LABEL = "positive"'),
    ('domain="TODO: a label such as support tickets",', 'domain="reviews",'),
    ('task="TODO: e.g. ticket urgency"', 'task="toy sentiment"'),
]


def _describe(spec: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepaudit.audit.cli", "describe", spec, "--device", "cpu"],
                          capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("kind", ["tabular", "image", "huggingface"])
def test_describe_refuses_until_filled_then_accepts(tmp_path, kind):
    if kind == "huggingface":   # a BERT-style model saved with save_pretrained, made here (deepaudit.audit.testing.zoo)
        pytest.importorskip("transformers")
        from deepaudit.audit.testing.zoo import huggingface_directory

        FILL[kind] = [(old, new.replace("MODEL_DIR_HERE", huggingface_directory())) for old, new in HF_FILL]
    path = write_target("acme_" + kind, kind, directory=tmp_path)
    res = _describe(f"{path.name}:factory", tmp_path)
    assert res.returncode != 0 and "TODO in" in res.stderr and "load_" in res.stderr
    assert "Traceback" not in res.stderr
    (tmp_path / "toy_net.py").write_text(MODEL_MODULE)
    text = path.read_text()
    for old, new in FILL[kind]:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    res = _describe(f"{path.name}:factory", tmp_path)   # the card still says TODO
    assert res.returncode != 0 and "replace the TODO values of card" in res.stderr
    path.write_text(_fill_card(text))
    res = _describe(f"{path.name}:factory", tmp_path)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["name"] == "acme_" + kind


def test_every_kind_renders_valid_python_and_bad_input_is_refused(tmp_path):
    for kind in KINDS:
        compile(render("x_model", kind, "x_model.py"), "x_model.py", "exec")
    with pytest.raises(ValueError, match="must be a Python identifier"):
        render("2fast", "tabular", "f.py")
    with pytest.raises(ValueError, match="unknown kind 'audio'"):
        render("ok", "audio", "f.py")
    write_target("once", "text", directory=tmp_path)
    with pytest.raises(FileExistsError, match="already exists; nothing was written"):
        write_target("once", "text", directory=tmp_path)
    assert write_target("once", "image", directory=tmp_path, force=True).read_text().count('"image"') >= 1


def test_cli_writes_the_file_and_refuses_to_overwrite(tmp_path):
    run = [sys.executable, "-m", "deepaudit.audit.cli", "init-target", "bank_model", "--kind", "tabular",
           "--dir", str(tmp_path)]
    res = subprocess.run(run, capture_output=True, text=True)
    assert res.returncode == 0 and "deepaudit describe" in res.stdout
    assert (tmp_path / "bank_model.py").read_text() == render("bank_model", "tabular",
                                                               (tmp_path / "bank_model.py").as_posix())
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode != 0 and "already exists; nothing was written" in again.stderr
