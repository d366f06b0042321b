"""/model/<model>/checks: every check of the run, failed first, each with a link to the evidence behind it.

The verdict badge in every page header links here. A row says what the check judges in words (its id beside),
the value against the policy threshold, the group, attribute or method it concerns, and a link to the page,
selection and section that show its numbers (:mod:`deepaudit.dashboard.evidence`). ``?checks=failed`` shows only the
failed ones. :func:`checks_box` is the small list each evidence page shows of the checks it is evidence for.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import dash
from dash import dcc, html

from deepaudit.audit.glossary import lookup
from deepaudit.audit.report.findings import check_words, rank_failed
from deepaudit.audit.schema import Check
from deepaudit.audit.store import Run
from deepaudit.dashboard import evidence, ids
from deepaudit.dashboard.context import AppContext
from deepaudit.dashboard.pages import shell

PAGE = "checks"


def build(ctx: AppContext, model: str | None = None, run: str | None = None, checks: str | None = None,
          **_: Any) -> html.Div:
    return shell.model_page(ctx, model, run, PAGE, lambda r: body(r, checks), key=(checks,))


def ordered(checks: Sequence[Check]) -> list[Check]:
    """Failed checks most severe first (the report's ranking), then the passed ones by id."""
    by_id = {c.id: c for c in checks}
    failed = [by_id[f["check_id"]] for f in rank_failed(checks)]
    return failed + sorted((c for c in checks if c.passed), key=lambda c: c.id)


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "not computable"
    return f"{v:.3f}" if abs(v) < 1000 else f"{v:,.0f}"


def concerns(c: Check) -> str:
    """What the check is about: the attribute or method, and the group that decided it."""
    parts = [p for p in ((c.subject or "").replace("_x_", " × "), c.method if c.method != c.subject else None,
                         f"group {c.group}" if c.group else None) if p]
    return " · ".join(dict.fromkeys(parts)) or "the model"


def evidence_href(run: Run, c: Check) -> str:
    ev = evidence.evidence_for(c)
    return shell.href(run.model.name, ev.page, run.run_id, **ev.query) + f"#{ev.anchor}"


def _row(run: Run, c: Check) -> html.Tr:
    ev = evidence.evidence_for(c)
    return html.Tr([
        html.Td(html.Span("pass" if c.passed else "FAIL", className="badge pass" if c.passed else "badge fail")),
        html.Td([html.Span(check_words(c), title=lookup(check_words(c)) or c.description), html.Br(),
                 html.Code(c.id, className="muted")]),
        html.Td(_num(c.value), className="num"),
        html.Td(f"{c.comparison} {_num(c.threshold)}", className="num nowrap"),
        html.Td(concerns(c)),
        html.Td(dcc.Link(ev.label, href=evidence_href(run, c), className="evidence-link")),
        html.Td(c.note, className="check-note"),
    ], id=evidence.check_anchor(c.id), className="check-row fail" if not c.passed else "check-row")


def body(run: Run, filt: str | None = None) -> list:
    rows = ordered(run.checks)
    n_failed = sum(not c.passed for c in rows)
    if filt == "failed":
        rows = [c for c in rows if not c.passed]
    head = html.Tr([html.Th(h) for h in ("Result", "Check", "Value", "Threshold", "Concerns", "Evidence", "Note")])
    intro = (f"{n_failed} of {len(run.checks)} checks failed. " if n_failed else
             f"All {len(run.checks)} checks passed. ") + (
        "Each check compares a value from this run with the policy's threshold; the evidence link opens the page "
        "and section that show the numbers behind it. Failed checks first, most severe first. Hover a check for "
        "what it measures; the ")
    toggle = dcc.Link("show only failed checks" if filt != "failed" else "show all checks",
                      href=shell.href(run.model.name, PAGE, run.run_id,
                                      **({} if filt == "failed" else {"checks": "failed"})),
                      id=ids.CHECKS_FILTER)
    if not run.checks:
        return [html.P("This run evaluated no policy checks, so its verdict certifies nothing.", className="note")]
    glossary_link = dcc.Link("glossary", href=dash.get_relative_path("/glossary"))
    return [html.P([intro, glossary_link, " explains every term. ", toggle], className="muted"),
            html.Table([html.Thead(head), html.Tbody([_row(run, c) for c in rows])], id=ids.CHECKS_TABLE,
                       className="checks-table")]


def checks_box(run: Run, page: str, *, subject: str | None = None, families: Sequence[str] = ()) -> html.Div:
    """The checks this page is evidence for: the failed ones listed (each linking to its row on the Checks
    page), the passed ones counted."""
    picked = [c for c in ordered(evidence.page_checks(run.checks, page, subject=subject))
              if not families or c.family.startswith(tuple(families))]
    if not picked:
        return html.Div()
    failed = [c for c in picked if not c.passed]
    items = [html.Li([html.Span("FAIL", className="badge fail"), " ",
                      dcc.Link(check_words(c), href=shell.href(run.model.name, PAGE, run.run_id)
                               + f"#{evidence.check_anchor(c.id)}"),
                      html.Span(f" {_num(c.value)} (threshold {c.comparison} {_num(c.threshold)})",
                                className="muted")]) for c in failed]
    n_passed = len(picked) - len(failed)
    tail = dcc.Link(f"{n_passed} passed" if failed else f"all {n_passed} passed",
                    href=shell.href(run.model.name, PAGE, run.run_id))
    return html.Div([html.Strong("Checks this section is evidence for: "), tail, html.Ul(items) if items else None],
                    className="checks-box")


def register_callbacks(app, ctx: AppContext) -> None:
    return None
