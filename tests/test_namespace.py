"""One import namespace: deepaudit's folders audit/, models/ and dashboard/ install as deepaudit.audit,
deepaudit.models and deepaudit.dashboard, so a team's project with its own ``audit`` and ``models`` packages,
run from its root (its folder first on sys.path, as in a notebook or ``python -c``), audits its own targets
beside deepaudit's bundled ones."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"audit": "deepaudit.audit", "models": "deepaudit.models", "dashboard": "deepaudit.dashboard"}


def test_every_subpackage_is_installed_under_the_namespace():
    """pyproject lists packages by hand (the folder names differ from the import names): none may be missing."""
    tomllib = pytest.importorskip("tomllib")   # Python 3.11+
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    want = {"deepaudit"}
    for folder, name in FOLDERS.items():
        assert conf["package-dir"][name] == folder
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            want.add(".".join([name, *rel.parts]))
    assert set(conf["packages"]) == want


def test_the_source_never_imports_the_bare_folder_names():
    """No module of ours imports ``audit``, ``models`` or ``dashboard`` by their bare names (that would pick up a
    user's package of the same name)."""
    import ast

    bad = []
    for folder in [*FOLDERS, "deepaudit", "tests", "benchmarks"]:
        for f in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(), str(f))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                         else [])
                bad += [f"{f.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in FOLDERS]
    assert not bad, bad


PROJECT = {
    "models/__init__.py": "",
    "models/net.py": textwrap.dedent('''
        import torch
        class ScoreNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
            def forward(self, x):
                return self.body(x)
    '''),
    "audit/__init__.py": "WHO = 'the team'\n",
    "audit/rules.py": "CUTOFF = 0.5\n",
    "target.py": textwrap.dedent('''
        import numpy as np, pandas as pd, torch
        from audit.rules import CUTOFF            # the team's own audit package
        from models.net import ScoreNet           # the team's own models package
        from deepaudit import AuditTarget, EvalData

        def factory():
            torch.manual_seed(0)
            x = torch.randn(60, 3)
            return AuditTarget(
                name="team_model", domain="other", task="toy score", class_names=["no", "yes"],
                favorable_label="yes", model=ScoreNet(),
                eval_data=EvalData(inputs=x, labels=(x[:, 0] > CUTOFF).long().numpy(),
                                   groups=pd.DataFrame({"sex": ["f", "m"] * 30})),
                sensitive_columns=["sex"], feature_names=["a", "b", "c"])
    '''),
}


@pytest.fixture
def project(tmp_path):
    for rel, text in PROJECT.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


@pytest.mark.slow
def test_a_project_with_its_own_audit_and_models_packages_audits_from_its_root(project):
    cli = Path(sys.executable).with_name("deepaudit")
    run = subprocess.run([str(cli), "run", "target.py:factory", "--store", "runs", "--samples", "8", "--json",
                          "--no-progress", "--report", "--report-dir", "reports"],
                         cwd=project, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)[0]["model"] == "team_model"
    assert {p.suffix for p in (project / "reports").iterdir()} >= {".html", ".pdf", ".json"}
    # notebook-style: the project folder first on sys.path, the team's packages imported first, then deepaudit,
    # which audits the team's target and still finds its own bundled model (deepaudit.models, not theirs)
    script = textwrap.dedent('''
        import json, sys
        import audit, models.net
        import deepaudit as da
        t = da.load_target("target.py:factory", device="cpu")
        r = da.audit(t, samples=6, seed=0)
        bundled = da.load_target("mortgage", device="cpu")
        import deepaudit.audit.runner as runner
        print(json.dumps({"theirs": [audit.__file__, models.net.__file__, audit.WHO],
                          "ours": [runner.__file__, sys.modules[type(bundled.model).__module__].__file__],
                          "checks": len(r.checks), "bundled": bundled.name}))
    ''')
    nb = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=600)
    assert nb.returncode == 0, nb.stderr[-3000:]
    out = json.loads(nb.stdout.strip().splitlines()[-1])
    theirs, ours = out["theirs"], out["ours"]
    assert all(Path(p).resolve().is_relative_to(project.resolve()) for p in theirs[:2]) and theirs[2] == "the team"
    assert all(Path(p).resolve().is_relative_to(ROOT) for p in ours), ours
    assert out["bundled"] == "mortgage" and out["checks"] > 5
