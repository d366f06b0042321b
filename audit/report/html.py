"""HTML rendering of the report model: one self-contained file (inline CSS and figures)."""
from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import Any

from deepaudit.audit.report.fmt import FILTERS, NOT_COMPUTABLE

#: Okabe-Ito blue (toward the explained class) and orange (against), as RGB.
_TOWARD, _AGAINST = (0, 114, 178), (230, 159, 0)


def attr_color(value: float | None, max_abs: float | None) -> str:
    """Background of a token in a heatmap: blue toward, orange against, alpha = |value| / max_abs."""
    if value is None or not max_abs:
        return "transparent"
    rgb = _TOWARD if value > 0 else _AGAINST
    alpha = min(1.0, abs(float(value)) / float(max_abs)) * 0.75
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{alpha:.2f})"


def breakable(text: Any) -> Any:
    """Escaped text with line-break opportunities (zero-width spaces; WeasyPrint ignores
    ``<wbr>``) after '_' and '.', so that long check ids wrap at word boundaries in
    narrow table columns instead of letter by letter."""
    from markupsafe import Markup, escape

    return Markup(str(escape(text)).replace("_", "_\u200b").replace(".", ".\u200b"))


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("deepaudit.audit.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.filters["attr_color"] = attr_color
    env.filters["breakable"] = breakable
    env.globals["NOT_COMPUTABLE"] = NOT_COMPUTABLE
    return env


def render_html(data: dict[str, Any], figures: dict[str, Any]) -> str:
    """The report as HTML text.

    Parameters
    ----------
    data : dict
        The report model (:attr:`deepaudit.audit.report.Report.data`).
    figures : dict
        Data URIs from :func:`deepaudit.audit.report.figures.render_figures`.
    """
    css = resources.files("deepaudit.audit.report").joinpath("templates/report.css").read_text()
    # Figures are optional per domain; a missing one reads as None rather than an undefined error.
    figs = defaultdict(lambda: None, figures)
    from deepaudit.audit.glossary import GLOSSARY, anchor

    glossary = [{"term": t, "anchor": anchor(t), "text": d} for t, d in GLOSSARY.items()]
    return _env().get_template("report.html.j2").render(r=data, fig=figs, css=css, glossary=glossary)
