"""Import captum without loading its plotting module until something plots.

``import captum.attr`` executes ``captum.attr._utils.visualization``, which imports
``matplotlib.pyplot`` (0.5 s of a 5 s audit process); its only other importers take two
drawing helpers from it by name. An audit never plots through captum (reports draw their
own figures). :func:`defer_captum_plotting` registers a stand-in for that one module: the two
helpers are forwarding functions, and the first use of anything else in it (or of either
helper) loads and executes the real module, which then replaces the stand-in in
``sys.modules`` and on its parent packages. Nothing of captum's is changed or copied; code
that plots through captum gets captum's own functions, only later.

Importing this module registers it (the audit's captum users import it first); after captum
is imported it does nothing.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

DEFERRED = "captum.attr._utils.visualization"
#: Names captum's own modules import from the plotting module at import time.
_FORWARDED = ("draw_mask_border", "draw_mask_legend")
_lock = threading.RLock()


def _load_real() -> types.ModuleType:
    """Execute the real plotting module (once) and put it where the stand-in was."""
    with _lock:
        current = sys.modules.get(DEFERRED)
        if current is not None and not isinstance(current, _DeferredModule):
            return current
        parent = sys.modules["captum.attr._utils"]
        spec = importlib.machinery.PathFinder.find_spec(DEFERRED, parent.__path__)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot find {DEFERRED}: is captum installed completely?")
        real = importlib.util.module_from_spec(spec)
        sys.modules[DEFERRED] = real
        try:
            spec.loader.exec_module(real)
        except BaseException:
            sys.modules[DEFERRED] = current
            raise
        parent.visualization = real
        attr = sys.modules.get("captum.attr")
        if attr is not None and isinstance(getattr(attr, "visualization", None), _DeferredModule):
            attr.visualization = real
        return real


class _DeferredModule(types.ModuleType):
    """Stands in for captum's plotting module; any attribute loads the real one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(_load_real(), name)


def _forwarder(name: str) -> Any:
    def forward(*args: Any, **kwargs: Any) -> Any:
        return getattr(_load_real(), name)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    forward.__doc__ = f"captum's {name}; loads {DEFERRED} on first call."
    return forward


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _DeferredModule(spec.name)
        for name in _FORWARDED:
            setattr(module, name, _forwarder(name))
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != DEFERRED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=False)


_FINDER = _Finder()


def defer_captum_plotting() -> None:
    """Register the stand-in unless captum (or its plotting module) is already imported."""
    if "captum" in sys.modules or DEFERRED in sys.modules or _FINDER in sys.meta_path:
        return
    sys.meta_path.insert(0, _FINDER)


defer_captum_plotting()
