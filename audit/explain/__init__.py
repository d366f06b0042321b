"""Attributions behind one interface: ``make_explainer(name, target).attribute(inputs, target=classes)``.

Registered methods: integrated_gradients, saliency, input_x_gradient, deeplift,
gradient_shap, occlusion, grad_cam (vision) over captum; shap over shap; plus
any that installed packages expose as ``deepaudit.explainers`` entry points.
:func:`method_label` gives a method's display name. See
:mod:`deepaudit.audit.explain.base` for the contract and :mod:`deepaudit.audit.explain.views` for
global views computed from local attributions.
"""
from deepaudit.audit.explain.base import (
    ENTRY_POINT_GROUP,
    Explainer,
    get_explainer,
    list_explainers,
    make_explainer,
    method_label,
    register_explainer,
)

__all__ = ["ENTRY_POINT_GROUP", "Explainer", "get_explainer", "list_explainers", "make_explainer", "method_label",
           "register_explainer"]
