"""Attributions behind one interface: ``make_explainer(name, target).attribute(inputs, target=classes)``.

Registered methods: integrated_gradients, saliency, input_x_gradient, deeplift,
gradient_shap, occlusion, grad_cam (vision) over captum; shap over shap. See
:mod:`audit.explain.base` for the contract and :mod:`audit.explain.views` for
global views computed from local attributions.
"""
from audit.explain.base import Explainer, get_explainer, list_explainers, make_explainer, register_explainer

__all__ = ["Explainer", "get_explainer", "list_explainers", "make_explainer", "register_explainer"]
