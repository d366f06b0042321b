"""Explainer registry, option checking and display labels (deepaudit.audit.explain.base)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch

from deepaudit.audit.explain import (
    Explainer,
    base,
    get_explainer,
    list_explainers,
    make_explainer,
    method_label,
    register_explainer,
)
from deepaudit.audit.testing import linear_target

BUILTIN = ["deeplift", "grad_cam", "gradient_shap", "input_x_gradient", "integrated_gradients", "occlusion",
           "saliency", "shap"]


class PluginExplainer(Explainer):
    """A plugin method (exposed through a fake entry point below): attribution = 2 x input."""

    name = "double_input"
    label = "Double input"

    def _attribute(self, x, y, *, factor: float = 2.0):
        return factor * x


class AnyOptionExplainer(Explainer):
    name = "any_option"

    def _attribute(self, x, y, **opts):
        return x


class ShadowSaliency(Explainer):
    name = "saliency"

    def _attribute(self, x, y):
        return x


NOT_A_CLASS = 42


@pytest.fixture
def registry(monkeypatch):
    """The registry with built-ins loaded; whatever a test registers is dropped afterwards."""
    list_explainers()
    for attr in ("_REGISTRY", "_SOURCES", "_BROKEN", "_LOADED"):
        monkeypatch.setattr(base, attr, dict(getattr(base, attr)))
    return base


@pytest.fixture
def target():
    return linear_target(n_features=4, n_samples=8)


def _entry_point(name, value):
    return EntryPoint(name=name, value=value, group=base.ENTRY_POINT_GROUP)


# -- unknown options -------------------------------------------------------------------------------

def test_misspelled_option_names_it_and_lists_the_valid_ones(target):
    with pytest.raises(ValueError) as e:
        make_explainer("integrated_gradients", target, n_step=5)
    msg = str(e.value)
    assert msg.startswith("unknown option 'n_step' for integrated_gradients; valid options: method, n_steps.")
    assert "did you mean 'n_steps'?" in msg


def test_every_bad_option_is_named_also_on_direct_construction(target):
    with pytest.raises(ValueError, match=r"unknown options 'n_steps', 'windw' for saliency; valid options: none"):
        get_explainer("saliency")(target, n_steps=8, windw=3)
    with pytest.raises(ValueError, match=r"unknown option 'n_steps' for occlusion; valid options: "
                                         r"perturbations_per_eval, stride, window"):
        make_explainer("occlusion", target, n_steps=8)


def test_valid_options_are_what_each_method_reads():
    opts = {n: get_explainer(n).valid_options() for n in BUILTIN}
    assert opts["integrated_gradients"] == ("method", "n_steps")
    assert opts["gradient_shap"] == ("n_background", "n_samples", "stdevs")
    assert opts["shap"] == ("max_evals", "n_background", "n_samples")
    assert opts["occlusion"] == ("perturbations_per_eval", "stride", "window")
    assert all(opts[n] == () for n in ("saliency", "input_x_gradient", "deeplift", "grad_cam"))
    # Per-chunk arguments the base class passes itself are not user options.
    assert not any({"seed", "texts"} & set(v) for v in opts.values())


def test_per_call_and_post_construction_options_are_checked(target):
    x = target.eval_data.inputs[:3]
    ex = make_explainer("integrated_gradients", target)
    with pytest.raises(ValueError, match="unknown option 'n_samples' for integrated_gradients"):
        ex.attribute(x, target=1, n_samples=4)
    # The runner sets the step count after construction: valid options keep working...
    ex.options["n_steps"] = 4
    assert torch.equal(ex.attribute(x, target=1), make_explainer("integrated_gradients", target, n_steps=4)
                       .attribute(x, target=1))
    # ...and a bad one set that way is caught at attribute time.
    ex.options["steps"] = 4
    with pytest.raises(ValueError, match="unknown option 'steps'"):
        ex.attribute(x, target=1)


def test_a_method_taking_any_keyword_accepts_any_option(target):
    assert AnyOptionExplainer.valid_options() is None
    AnyOptionExplainer(target, whatever=1)  # no error


# -- registration ------------------------------------------------------------------------------------

def test_duplicate_name_is_an_error_naming_the_holder(registry):
    class Mine(Explainer):
        name = "saliency"

        def _attribute(self, x, y):
            return x

    with pytest.raises(ValueError) as e:
        register_explainer(Mine)
    msg = str(e.value)
    assert ("'saliency' is already registered by built-in "
            "deepaudit.audit.explain.captum_methods.SaliencyExplainer") in msg
    assert "replace=True" in msg
    assert get_explainer("saliency").__name__ == "SaliencyExplainer"


def test_replace_true_replaces_and_a_second_user_class_conflicts_with_the_first(registry):
    @register_explainer(replace=True)
    class Mine(Explainer):
        name = "saliency"

        def _attribute(self, x, y):
            return x

    assert get_explainer("saliency") is Mine

    @register_explainer
    class First(Explainer):
        name = "my_method"

        def _attribute(self, x, y):
            return x

    class Second(Explainer):
        name = "my_method"

        def _attribute(self, x, y):
            return x

    with pytest.raises(ValueError, match=r"'my_method' is already registered by .*First"):
        register_explainer(Second)
    assert get_explainer("my_method") is First
    register_explainer(First)  # the very same class again is not a conflict


def test_builtins_register_before_the_first_user_registration():
    # A fresh interpreter: the user's registration is the first thing that touches the registry.
    script = textwrap.dedent("""
        from deepaudit.audit.explain import Explainer, base, list_explainers, register_explainer

        assert not base._REGISTRY
        class Mine(Explainer):
            name = "my_method"
            def _attribute(self, x, y):
                return x
        register_explainer(Mine)
        assert "saliency" in base._REGISTRY and "shap" in base._REGISTRY
        class Shadow(Explainer):
            name = "saliency"
            def _attribute(self, x, y):
                return x
        try:
            register_explainer(Shadow)
        except ValueError as e:
            assert "built-in" in str(e), e
        else:
            raise SystemExit("a user class took a built-in name silently")
        assert base.get_explainer("my_method") is Mine
        assert base.get_explainer("saliency").__name__ == "SaliencyExplainer"
        print("ok", len(list_explainers()))
    """)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", str(len(BUILTIN) + 1)]


# -- entry points ----------------------------------------------------------------------------------------

def test_entry_point_plugins_load_lazily_after_builtins(registry, monkeypatch, target):
    monkeypatch.setattr(base, "_entry_points", lambda: [_entry_point("double_input", f"{__name__}:PluginExplainer")])
    assert "double_input" not in base._REGISTRY  # nothing loaded before the registry is consulted
    base._LOADED["plugins"] = False
    assert "double_input" in list_explainers("other")
    assert set(BUILTIN) <= set(list_explainers())
    assert "plugin 'double_input'" in base._SOURCES["double_input"]
    x = target.eval_data.inputs[:2]
    torch.testing.assert_close(make_explainer("double_input", target, factor=3.0).attribute(x, target=0), 3 * x)
    assert method_label("double_input") == "Double input"


def test_broken_entry_points_name_themselves_and_leave_builtins_working(registry, monkeypatch, target, caplog):
    eps = [_entry_point("missing_mod", "tests.audit.no_such_module:Cls"),
           _entry_point("not_a_class", f"{__name__}:NOT_A_CLASS"),
           _entry_point("wrong_name", f"{__name__}:PluginExplainer"),
           _entry_point("saliency", f"{__name__}:ShadowSaliency")]
    monkeypatch.setattr(base, "_entry_points", lambda: eps)
    base._LOADED["plugins"] = False
    with caplog.at_level("WARNING", logger="deepaudit.audit.explain.base"):
        names = list_explainers()
    assert set(BUILTIN) <= set(names) and not {"missing_mod", "not_a_class", "wrong_name"} & set(names)
    with pytest.raises(ValueError, match=r"explainer plugin 'missing_mod' \(tests.audit.no_such_module:Cls, entry "
                                         r"point group 'deepaudit.explainers'\) could not be registered: "
                                         r"ModuleNotFoundError"):
        get_explainer("missing_mod")
    with pytest.raises(ValueError, match="plugin 'not_a_class'.*not an deepaudit.audit.explain.Explainer subclass"):
        get_explainer("not_a_class")
    with pytest.raises(ValueError, match="plugin 'wrong_name'.*named 'double_input'"):
        get_explainer("wrong_name")
    # A plugin cannot shadow a built-in either; the built-in stays and still works.
    assert get_explainer("saliency").__name__ == "SaliencyExplainer"
    assert any("'saliency'" in r.getMessage() and "already registered" in r.getMessage() for r in caplog.records)
    x = target.eval_data.inputs[:2]
    assert make_explainer("saliency", target).attribute(x, target=0).shape == x.shape


def test_a_failing_entry_point_listing_does_not_break_builtins(registry, monkeypatch):
    def boom():
        raise RuntimeError("bad metadata")

    monkeypatch.setattr(base, "_entry_points", boom)
    base._LOADED["plugins"] = False
    assert set(BUILTIN) <= set(list_explainers())


# -- labels ------------------------------------------------------------------------------------------------

def test_labels_live_on_the_classes_with_one_spelling():
    assert method_label("deeplift") == "DeepLIFT" == get_explainer("deeplift").label
    assert method_label("integrated_gradients") == "Integrated Gradients"
    assert method_label("grad_cam") == "Grad-CAM"
    assert all(get_explainer(n).label for n in BUILTIN)
    assert method_label("some_future_method") == "Some future method"  # unknown names do not raise


def test_dashboard_labels_are_the_class_labels():
    from deepaudit.dashboard import explain_finance_data
    from deepaudit.dashboard.figures import explain_vision

    for n in BUILTIN:
        assert explain_vision.method_label(n) == explain_finance_data.method_label(n) == method_label(n)
    assert not hasattr(explain_vision, "METHOD_LABELS") and not hasattr(explain_finance_data, "METHOD_LABELS")
