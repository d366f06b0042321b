"""Import boundaries: audit/ and dashboard/ never import the bundled models (models/); the models reach the
audit the way a user's do, as ``deepaudit.targets`` entry points."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ["mnist_cnn", "mnist_cnn_shortcut", "mortgage", "sentiment", "sentiment_bert"]
FORBIDDEN = "deepaudit.models"
IMPORT_FUNCTIONS = {"import_module", "__import__"}


def _is_models(name: str | None) -> bool:
    return bool(name) and (name == FORBIDDEN or name.startswith(FORBIDDEN + "."))


def _literal_prefix(node: ast.AST) -> str | None:
    """The text a call argument starts with, where it is known statically: a string, or an f-string's head."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def models_imports(source: str, filename: str = "<string>") -> list[str]:
    """Every import of the ``models`` package in ``source``: ``import models[.x]``, ``from models[.x] import``,
    and ``importlib.import_module("models...")`` / ``__import__("models...")`` with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"{filename}:{node.lineno}: import {a.name}" for a in node.names if _is_models(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_models(node.module):
            found.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            prefix = _literal_prefix(node.args[0])
            if name in IMPORT_FUNCTIONS and prefix is not None and (
                    _is_models(prefix) or (isinstance(node.args[0], ast.JoinedStr) and prefix.startswith(FORBIDDEN))):
                found.append(f"{filename}:{node.lineno}: {name}({prefix!r}...)")
    return found


@pytest.mark.parametrize("snippet", [
    "import deepaudit.models",
    "import deepaudit.models.registry as r",
    "import os, deepaudit.models.finance",
    "from deepaudit.models import get_entry",
    "from deepaudit.models.registry import get_entry",
    "def f():\n    from deepaudit.models.finance import data",
    "import importlib\nimportlib.import_module('deepaudit.models.finance.data')",
    "from importlib import import_module\nimport_module('deepaudit.models')",
    "import importlib\nimportlib.import_module(f'deepaudit.models.{x}.data')",
    "__import__('deepaudit.models.registry')",
])
def test_the_scan_finds_every_form_of_import(snippet):
    assert models_imports(snippet), snippet


@pytest.mark.parametrize("snippet", [
    "import deepaudit.modelsx", "from deepaudit.audit import models_x", "from . import models",
    "import_module('deepaudit.audit.models_card')", "x = 'deepaudit.models'", "import models",
])
def test_the_scan_ignores_look_alikes(snippet):
    assert not models_imports(snippet)


@pytest.mark.parametrize("package", ["audit", "dashboard"])
def test_package_never_imports_models(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert len(files) > 5, f"no sources found under {ROOT / package}"
    found = [hit for f in files for hit in models_imports(f.read_text(), str(f.relative_to(ROOT)))]
    assert not found, "audit/ and dashboard/ must reach models only through entry points:\n" + "\n".join(found)


USER_TARGET = textwrap.dedent('''
    import numpy as np, pandas as pd, torch
    from deepaudit.audit.target import AuditTarget, EvalData

    def factory():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        x = torch.randn(40, 3)
        return AuditTarget(
            name="tiny_user", domain="other", task="toy classifier", class_names=["no", "yes"],
            favorable_label=None, model=model,
            eval_data=EvalData(inputs=x, labels=np.arange(40) % 2, groups=pd.DataFrame({"half": ["a", "b"] * 20})),
            cohort_columns=["half"], feature_names=["a", "b", "c"],
            provenance={"card": {"intended_use": "a test", "architecture": "2-layer MLP"}})
''')

RUN_AND_REPORT = textwrap.dedent('''
    import json, sys
    import deepaudit.audit, deepaudit.audit.cli, deepaudit.audit.runner, deepaudit.audit.store
    import deepaudit.audit.target, deepaudit.audit.report, deepaudit.audit.report.model
    from deepaudit.audit.report import build_report
    from deepaudit.audit.runner import RunConfig, run_audit
    from deepaudit.audit.store import RunStore

    spec, store_dir = sys.argv[1], sys.argv[2]
    store = RunStore(store_dir)
    (result,) = run_audit([spec], RunConfig(samples=8, device="cpu", progress=False, quality_samples=4), store=store)
    heavy = [m for m in ("scipy", "sklearn", "fairlearn", "shap", "matplotlib.pyplot") if m in sys.modules]
    report = build_report(store.load(result.run_id), with_examples=False).data
    print(json.dumps({"run_id": result.run_id, "architecture": report["model"]["architecture"], "heavy": heavy,
                      "models_loaded": sorted(m for m in sys.modules if m == "models" or m.startswith("models."))}))
''')


def test_a_user_target_runs_and_reports_without_importing_models(tmp_path):
    """The audit of a user's model, from loading it to its report, never imports the bundled models."""
    user = tmp_path / "user_target.py"
    user.write_text(USER_TARGET)
    res = subprocess.run([sys.executable, "-c", RUN_AND_REPORT, f"{user}:factory", str(tmp_path / "store")],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["run_id"]
    assert out["architecture"] == "2-layer MLP"     # the report reads the run's own card
    assert out["models_loaded"] == [], f"a user-model audit imported {out['models_loaded']}"
    assert out["heavy"] == [], f"the audit itself imported {out['heavy']} (start-up cost, docs/architecture.md)"


def test_the_command_line_loads_only_the_models_command_plugin(tmp_path):
    """``deepaudit describe file.py:f`` imports at most the light ``deepaudit.models.cli`` plugin (declaring ``deepaudit
    models``/``evaluate``/``train``), never the registry, the domain packages or their data."""
    user = tmp_path / "user_target.py"
    user.write_text(USER_TARGET)
    code = ("import sys, contextlib, io\nfrom deepaudit.audit.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['describe', sys.argv[1], '--device', 'cpu'])\n"
            "print(rc, sorted(m for m in sys.modules if m.startswith('models')))")
    res = subprocess.run([sys.executable, "-c", code, f"{user}:factory"], capture_output=True, text=True,
                         timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    rc, loaded = res.stdout.strip().split(" ", 1)
    assert rc == "0"
    assert set(eval(loaded)) <= {"models", "deepaudit.models.cli"}, loaded


def test_bundled_models_are_deepaudit_targets_entry_points():
    eps = {ep.name: ep for ep in entry_points(group="deepaudit.targets")}
    missing = [n for n in BUNDLED if n not in eps]
    assert not missing, (f"bundled models {missing} are not deepaudit.targets entry points; re-install "
                         "(pip install -e .) after editing pyproject.toml")
    for name in BUNDLED:
        assert eps[name].value == f"deepaudit.models.targets:{name}"
        assert eps[name].dist is None or eps[name].dist.name == "deepaudit"
        assert callable(eps[name].load())


def test_every_registered_model_has_an_entry_point():
    from deepaudit.models import list_models

    names = {ep.name for ep in entry_points(group="deepaudit.targets")}
    assert list_models() == BUNDLED
    assert set(list_models()) <= names


def test_bundled_names_resolve_only_through_entry_points(monkeypatch):
    """Without the entry points a bundled name is unknown: load_target has no side path into models/."""
    import deepaudit.audit.target as T

    monkeypatch.setattr(T, "entry_points", lambda group=None: [])
    assert not T.is_installed_spec("mortgage")
    with pytest.raises(ValueError) as e:
        T.load_target("mortgage", device="cpu")
    assert "no installed target" in str(e.value) and "path/to/file.py:factory" in str(e.value)


def test_a_bundled_name_loads_through_its_entry_point(monkeypatch):
    import deepaudit.audit.target as T

    loaded = []
    real = T._plugins

    def spy():
        eps = real()
        for name, ep in eps.items():
            class Recording:
                value = ep.value

                def load(self, ep=ep):
                    loaded.append(ep.name)
                    return ep.load()
            eps[name] = Recording()
        return eps

    monkeypatch.setattr(T, "_plugins", spy)
    target = T.load_target("mortgage", device="cpu")
    assert loaded == ["mortgage"] and target.name == "mortgage"
    assert T.is_installed_spec("mortgage") and set(BUNDLED) <= set(T.list_targets())


LIGHT_COMMANDS = {
    # command -> heavy modules it must not import (start-up is what a user waits for on every call)
    ("--help",): ("numpy", "pandas", "torch", "dash", "weasyprint", "shap", "fairlearn", "captum", "sklearn"),
    ("list", "--store", "{store}"): ("torch", "dash", "weasyprint", "shap", "fairlearn", "captum", "sklearn"),
    ("models",): ("dash", "weasyprint", "shap", "fairlearn", "captum", "sklearn"),
}


@pytest.mark.parametrize("argv,heavy", list(LIGHT_COMMANDS.items()), ids=lambda v: " ".join(v)[:20])
def test_light_commands_import_only_what_they_need(tmp_path, argv, heavy):
    code = ("import sys, contextlib, io\nfrom deepaudit.audit.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        rc = main(sys.argv[1:])\n    except SystemExit as e:\n        rc = e.code\n"
            f"print(rc, len(out.getvalue()), [m for m in {list(heavy)!r} if m in sys.modules])")
    args = [a.format(store=tmp_path / "store") for a in argv]
    res = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    rc, chars, loaded = res.stdout.strip().splitlines()[-1].split(" ", 2)
    assert rc in ("0", "None") and int(chars) > 20, res.stdout
    assert loaded == "[]", f"`deepaudit {' '.join(argv)}` imported {loaded}"


def test_captum_plotting_loads_only_when_used(tmp_path):
    """An audit's captum import leaves matplotlib.pyplot out; plotting through captum still gets captum's code."""
    code = textwrap.dedent("""
        import sys, inspect
        import numpy as np
        import deepaudit.audit.quality, deepaudit.audit.explain.captum_methods
        import captum.attr
        print("pyplot at import:", "matplotlib.pyplot" in sys.modules)
        import matplotlib
        matplotlib.use("Agg")
        from captum.attr._utils.visualization import draw_mask_border   # the forwarding helper, as captum takes it
        fig, ax = captum.attr.visualization.visualize_image_attr(
            np.random.rand(8, 8, 1), np.random.rand(8, 8, 1), method="heat_map", sign="absolute_value",
            use_pyplot=False)
        real = sys.modules["captum.attr._utils.visualization"]
        draw_mask_border(ax, np.pad(np.ones((4, 4), bool), 2))
        real_file = inspect.getfile(real).endswith("captum/attr/_utils/visualization.py")
        print("figure:", type(fig).__name__, "real:", real_file, "same:", captum.attr.visualization is real,
              "images:", len(ax.images))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "pyplot at import: False", res.stdout
    # heat map image + the mask border image drawn through the forwarder
    assert lines[1] == "figure: Figure real: True same: True images: 2", res.stdout
