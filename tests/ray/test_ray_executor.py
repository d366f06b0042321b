"""`--executor ray` on a real local Ray cluster (never a mock): the result equals the local executor's.

Equal means: every check's outcome and every count identical, every number within the float32 tolerance
(audit/tolerance.py; workers may sum in another order than the driver), the predictions file identical in
its decisions. Only the provenance (timings, the executor record) and the run id differ.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is installed by the test extra (pyproject [test])")

from deepaudit.audit.runner import RunConfig, audit_target  # noqa: E402
from deepaudit.audit.target import load_target  # noqa: E402
from deepaudit.audit.tolerance import FLOAT32_ATOL, FLOAT32_RTOL, tree_differences  # noqa: E402


def test_the_cli_runs_on_a_local_cluster_it_starts_itself(tmp_path):
    """`deepaudit run mortgage --executor ray` with no cluster running: the run starts and stops its own."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("deepaudit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "deepaudit.audit.cli"]
    out = subprocess.run(cmd + ["run", "mortgage", "--executor", "ray", "--ray-workers", "2", "--store",
                                str(tmp_path), "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    result = json.loads((Path(row["path"]) / "result.json").read_text())
    assert result["provenance"]["config"]["executor"]["name"] == "ray"


@pytest.fixture(scope="module")
def cluster():
    """A real local Ray cluster of two one-CPU workers for the module (not a mock)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    assert ray.cluster_resources()["CPU"] == 2
    yield
    ray.shutdown()


def _same(local, remote):
    a, b = dict(local.result), dict(remote.result)
    for key in ("provenance", "run_id"):
        a.pop(key), b.pop(key)
    assert tree_differences(a, b) == []
    assert [(c["id"], c["passed"]) for c in local.result["checks"]] == \
        [(c["id"], c["passed"]) for c in remote.result["checks"]]
    pa, pb = local.predictions(), remote.predictions()
    assert pa["y_pred"].tolist() == pb["y_pred"].tolist() and pa["sample_id"].tolist() == pb["sample_id"].tolist()
    np.testing.assert_allclose(pa["score"], pb["score"], rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    for name in local.array_names():
        for key, arr in local.arrays(name).items():
            other = remote.arrays(name)[key]
            if arr.dtype.kind == "f":
                np.testing.assert_allclose(arr, other, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
            else:
                assert np.array_equal(arr, other)


def test_bundled_mortgage_on_ray_equals_local(cluster):
    target = load_target("mortgage")
    local = audit_target(target, RunConfig(progress=False))
    remote = audit_target(target, RunConfig(progress=False, executor="ray", ray_workers=2))
    assert remote.result["provenance"]["config"]["executor"] == {"name": "ray", "workers": 2, "gpus": 0}
    assert local.result["provenance"]["config"]["executor"] == {"name": "local", "workers": 1}
    # the group tables of the Ray run come from the workers' per-range cell counts, added up
    counted = "fairness: group counts from the workers"
    assert counted in remote.result["provenance"]["timings"] and counted not in local.result["provenance"]["timings"]
    _same(local, remote)


def test_a_sampled_run_with_stochastic_shap_on_ray_equals_local(cluster):
    """6,000 rows: a sized explanation sample, the IG step search spread over workers, SHAP seeded per chunk."""
    from deepaudit.audit.testing.scale import scale_target

    target = scale_target(6_000)
    cfg = dict(progress=False, methods=["integrated_gradients", "shap"])
    local = audit_target(target, RunConfig(**cfg))
    remote = audit_target(target, RunConfig(**cfg, executor="ray", ray_workers=2))
    assert local.result["explanations"]["sample"]["n_explained"] < 6_000
    _same(local, remote)


def test_a_target_file_whose_model_class_lives_in_the_file_runs_on_ray(cluster, tmp_path):
    """The workers cannot import a target file by name: its module is sent by value."""
    (tmp_path / "my_target.py").write_text(textwrap.dedent('''
        import numpy as np, pandas as pd, torch
        from torch import nn
        from deepaudit.audit.target import AuditTarget, EvalData

        class TinyNet(nn.Module):          # defined here, importable nowhere else
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.body = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
            def forward(self, x):
                return self.body(x)

        def factory():
            rng = np.random.default_rng(0)
            x = torch.from_numpy(rng.standard_normal((400, 4)).astype(np.float32))
            groups = pd.DataFrame({"g": rng.choice(["a", "b"], 400)})
            return AuditTarget(name="tiny", domain="finance", task="t", class_names=["no", "yes"],
                               favorable_label="yes", model=TinyNet().eval(),
                               eval_data=EvalData(inputs=x, labels=rng.integers(0, 2, 400), groups=groups),
                               sensitive_columns=["g"], feature_names=["a", "b", "c", "d"],
                               baseline=torch.zeros(4))
    '''))
    spec = f"{tmp_path / 'my_target.py'}:factory"
    target = load_target(spec)
    local = audit_target(target, RunConfig(progress=False, methods=["integrated_gradients"]), spec=spec)
    remote = audit_target(target, RunConfig(progress=False, methods=["integrated_gradients"], executor="ray",
                                            ray_workers=2), spec=spec)
    _same(local, remote)


def test_more_workers_than_the_cluster_has_is_refused_with_the_fix(cluster):
    with pytest.raises(ValueError, match="--ray-workers 2"):
        audit_target(load_target("mortgage"), RunConfig(progress=False, executor="ray", ray_workers=3))
    with pytest.raises(ValueError, match="--ray-workers must be a positive integer"):
        audit_target(load_target("mortgage"), RunConfig(progress=False, executor="ray", ray_workers=0))
