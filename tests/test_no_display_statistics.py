"""Rule: every number shown anywhere is computed in ``audit/`` and stored; the report and the dashboard only format.

This test reads the presentation code (``audit/report/*.py`` and ``dashboard/**/*.py``) with :mod:`ast` and fails,
naming ``file:line``, on anything that computes a statistic: numpy reductions and spreads (``np.mean``,
``np.std``, ``np.var``, ``np.sqrt``, ``np.quantile``, ``np.percentile``, ``np.median`` and their ``nan``
variants), the methods ``.mean()`` / ``.std()`` / ``.var()`` / ``.sem()`` / ``.median()`` / ``.quantile()``,
``math.sqrt``, ``scipy.stats`` and ``sklearn.metrics`` (imported or used), anything named ``bootstrap``, normal
quantiles (``.ppf``) and hard-coded z constants (1.96, 1.959963..., 1.645, 2.576).

:data:`ALLOWED` lists the few uses that only scale a drawing (colour limits, sums drawn as a bar). Each entry
names the file, the enclosing function and the rule, and says why; an entry that no longer matches anything
fails the test too, so the list cannot rot. Fix a failure by computing the number in ``audit/`` and storing it
(see :mod:`deepaudit.audit.performance` for the pattern), not by adding to the list.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NP_NAMES = {"np", "numpy"}
NP_STATS = {"mean", "std", "var", "sqrt", "quantile", "percentile", "median", "average", "nanmean", "nanstd",
            "nanvar", "nanquantile", "nanpercentile", "nanmedian"}
METHOD_STATS = {"mean", "std", "var", "sem", "median", "quantile"}
STATS_MODULES = ("scipy.stats", "sklearn.metrics")
#: Two-sided normal quantiles at 95% (1.96 and its exact value), 90% (1.645) and 99% (2.576).
Z_CONSTANTS = (1.959963984540054, 1.6448536269514722, 2.5758293035489004)
Z_TOLERANCE = 5e-4

#: (file, enclosing function, rule) -> why the use only scales a drawing. Keep it short.
#: Not listed because the scanner does not flag them (plain arithmetic for drawing): abs-max colour limits in
#: audit/report/figures.py, attribution sums drawn as bars in dashboard/pages/explain_nlp.py and
#: dashboard/figures/explain_finance.py, len() and counts.
ALLOWED: dict[tuple[str, str, str], str] = {
    # Colour limits of saliency overlays: a high quantile of |map| so one hot pixel does not wash out the rest.
    ("dashboard/figures/explain_vision.py", "symmetric_limit", "np.quantile"): "colour scale of a heatmap",
    # An RGB image drawn in grey: the channel average is a pixel conversion, not a statistic of the data.
    ("dashboard/figures/explain_vision.py", "to_gray", ".mean()"): "grey image under an overlay",
}


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    function: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): {self.rule}"


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attribute accesses on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _is_z(value: object) -> bool:
    return (isinstance(value, float) and not isinstance(value, bool)
            and any(abs(value - z) < Z_TOLERANCE for z in Z_CONSTANTS))


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path, self.hits, self.stack = path, [], []

    def _hit(self, node: ast.AST, rule: str) -> None:
        self.hits.append(Hit(self.path, node.lineno, ".".join(self.stack) or "<module>", rule))

    def _scope(self, node: ast.AST) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name.startswith(STATS_MODULES):
                self._hit(node, f"import {a.name}")
            if "bootstrap" in a.name.lower():
                self._hit(node, f"import {a.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            full = f"{mod}.{a.name}"
            if mod.startswith(STATS_MODULES) or full.startswith(STATS_MODULES) or "bootstrap" in a.name.lower():
                self._hit(node, f"from {mod} import {a.name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted and any(dotted == m or dotted.startswith(m + ".") for m in STATS_MODULES):
            self._hit(node, dotted)
            return
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Attribute):
            base = _dotted(f.value)
            if base in NP_NAMES and f.attr in NP_STATS:
                self._hit(node, f"np.{f.attr}")
            elif base == "math" and f.attr == "sqrt":
                self._hit(node, "math.sqrt")
            elif f.attr == "ppf":
                self._hit(node, ".ppf (normal quantile)")
            elif f.attr in METHOD_STATS and base not in NP_NAMES:
                self._hit(node, f".{f.attr}()")
            elif "bootstrap" in f.attr.lower():
                self._hit(node, f.attr)
        elif isinstance(f, ast.Name) and "bootstrap" in f.id.lower():
            self._hit(node, f.id)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if _is_z(node.value):
            self._hit(node, f"z constant {node.value!r}")


def scan_source(source: str, path: str = "<snippet>") -> list[Hit]:
    """Every statistic computed in ``source`` (see the module docstring), in order of appearance."""
    scanner = _Scanner(path)
    scanner.visit(ast.parse(source, filename=path))
    return sorted(scanner.hits, key=lambda h: (h.line, h.rule))


def presentation_files(root: Path = ROOT) -> list[Path]:
    return sorted([*(root / "audit" / "report").glob("*.py"), *(root / "dashboard").rglob("*.py")])


def scan_tree(root: Path = ROOT) -> list[Hit]:
    hits = []
    for p in presentation_files(root):
        hits += scan_source(p.read_text(encoding="utf-8"), p.relative_to(root).as_posix())
    return hits


def unallowed(hits: list[Hit]) -> list[Hit]:
    return [h for h in hits if (h.path, h.function, h.rule) not in ALLOWED]


# -- the rule on the repository -------------------------------------------------------------------------------
def test_presentation_code_computes_no_statistics():
    files = presentation_files()
    assert len(files) > 20 and any(p.parts[-2] == "report" for p in files)  # the globs found the code
    bad = unallowed(scan_tree())
    assert not bad, ("statistics computed at display time (compute and store them in audit/, then format the "
                     "stored value):\n" + "\n".join(map(str, bad)))


def test_every_allowlist_entry_is_still_used():
    used = {(h.path, h.function, h.rule) for h in scan_tree()}
    stale = [k for k in ALLOWED if k not in used]
    assert not stale, f"allowlist entries that match nothing (remove them): {stale}"


# -- the scanner itself -----------------------------------------------------------------------------------------
SNIPPET = textwrap.dedent("""
    import math
    import numpy as np
    from scipy import stats
    from scipy.stats import norm
    import sklearn.metrics
    from deepaudit.audit.fairness.intervals import bootstrap_counts

    def table(a, df):
        m = np.mean(a)
        s = a.std(ddof=1)
        v = df["x"].var()
        half = 1.96 * s / math.sqrt(len(a))
        z = norm.ppf(0.975)
        w = 1.959963984540054
        auc = sklearn.metrics.roc_auc_score([0, 1], [0.2, 0.8])
        reps = bootstrap_counts([[1, 2]])
        return m, v, half, z, w, auc, reps, len(a), a.sum(), abs(a).max(), np.abs(a), stats
""")


def test_scanner_flags_each_kind_of_statistic_with_its_line():
    hits = scan_source(SNIPPET, "snippet.py")
    got = {(h.line, h.rule) for h in hits}
    lines = SNIPPET.splitlines()

    def line_of(text: str) -> int:
        return next(i for i, s in enumerate(lines, start=1) if text in s)

    expected = {
        (line_of("from scipy import stats"), "from scipy import stats"),
        (line_of("from scipy.stats import norm"), "from scipy.stats import norm"),
        (line_of("import sklearn.metrics"), "import sklearn.metrics"),
        (line_of("import bootstrap_counts"), "from deepaudit.audit.fairness.intervals import bootstrap_counts"),
        (line_of("np.mean(a)"), "np.mean"),
        (line_of("a.std(ddof=1)"), ".std()"),
        (line_of('df["x"].var()'), ".var()"),
        (line_of("1.96 *"), "z constant 1.96"),
        (line_of("1.96 *"), "math.sqrt"),
        (line_of("norm.ppf"), ".ppf (normal quantile)"),
        (line_of("w = 1.9599"), "z constant 1.959963984540054"),
        (line_of("roc_auc_score"), "sklearn.metrics.roc_auc_score"),
        (line_of("reps = "), "bootstrap_counts"),
    }
    assert got == expected
    assert all(h.function == "table" for h in hits if h.line > line_of("def table"))
    # plain formatting and display arithmetic pass: len, sum, abs, max, np.abs
    assert not [h for h in hits if h.line == line_of("return m, v")]


@pytest.mark.parametrize("planted", ["np.mean(x)", "x.mean()", "numpy.percentile(x, 50)", "1.96 * se"])
def test_scanner_fails_on_a_planted_statistic_in_a_copy_of_a_page(tmp_path, planted):
    """A real dashboard page copied to a temporary tree, with one statistic planted: exactly that line fails."""
    src = (ROOT / "dashboard" / "pages" / "quality_tables.py").read_text(encoding="utf-8")
    (tmp_path / "dashboard" / "pages").mkdir(parents=True)
    (tmp_path / "audit" / "report").mkdir(parents=True)
    assert not unallowed(scan_source(src, "dashboard/pages/quality_tables.py"))
    planted_src = src + f"\n\ndef planted(x, se):\n    return {planted}\n"
    (tmp_path / "dashboard" / "pages" / "quality_tables.py").write_text(planted_src, encoding="utf-8")
    bad = unallowed(scan_tree(tmp_path))
    assert [(h.path, h.line, h.function) for h in bad] == [
        ("dashboard/pages/quality_tables.py", len(planted_src.splitlines()), "planted")]
    assert str(bad[0]).startswith(f"dashboard/pages/quality_tables.py:{len(planted_src.splitlines())} ")
