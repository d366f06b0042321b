"""Loading and validating profile files; evaluating a profile against a run (see the package docstring)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILE_NAMES = tuple(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
STATUSES = ("covered", "not covered", "needs input")

TOP_KEYS = {"id": str, "title": str, "citation": str, "description": str, "notes": list, "categories": dict,
            "small_category_justification": str, "item": list}
REQUIRED_TOP = ("id", "title", "citation", "item")
ITEM_KEYS = {"id": str, "requirement": str, "citation": str, "evidence": str, "ask": str}
REQUIRED_ITEM = ("id", "requirement", "citation", "evidence")

UNKNOWN_PROFILE = ("unknown compliance profile {name!r}. Fix: use one of {names}, or the path of a profile file "
                   "(copy one from {dir} and edit it).")
BAD_PROFILE = "compliance profile {source}: {problem}. Fix: {fix}"


@dataclass(frozen=True)
class Item:
    id: str
    requirement: str
    citation: str
    evidence: str
    ask: str = ""


@dataclass(frozen=True)
class Profile:
    id: str
    title: str
    citation: str
    items: tuple[Item, ...]
    source: str
    description: str = ""
    notes: tuple[str, ...] = ()
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    small_category_justification: str = ""


def _fail(source: str, problem: str, fix: str) -> None:
    raise ValueError(BAD_PROFILE.format(source=source, problem=problem, fix=fix))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``ll144``) or a profile file by path, validated."""
    from deepaudit.audit.compliance.evidence import EVIDENCE

    path = Path(name_or_path)
    if not path.suffix:
        if str(name_or_path) not in PROFILE_NAMES:
            raise ValueError(UNKNOWN_PROFILE.format(name=str(name_or_path), names=list(PROFILE_NAMES),
                                                    dir=PROFILE_DIR))
        path = PROFILE_DIR / f"{name_or_path}.toml"
    source = str(path)
    if not path.is_file():
        raise ValueError(UNKNOWN_PROFILE.format(name=source, names=list(PROFILE_NAMES), dir=PROFILE_DIR))
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        _fail(source, f"not valid TOML ({exc})", "correct the file's syntax")
    for key, value in doc.items():
        if key not in TOP_KEYS:
            _fail(source, f"unknown key {key!r}", f"use only {sorted(TOP_KEYS)}")
        if not isinstance(value, TOP_KEYS[key]):
            kind = TOP_KEYS[key].__name__
            _fail(source, f"{key!r} must be a {kind}", f"give {key} as a TOML {kind}")
    for key in REQUIRED_TOP:
        if key not in doc:
            _fail(source, f"missing {key!r}", f"add {key} = ...")
    items, seen = [], set()
    for n, raw in enumerate(doc["item"], 1):
        if not isinstance(raw, dict):
            _fail(source, f"item {n} is not a table", "write each requirement as an [[item]] table")
        for key, value in raw.items():
            if key not in ITEM_KEYS:
                _fail(source, f"item {n} has an unknown key {key!r}", f"use only {sorted(ITEM_KEYS)}")
            if not isinstance(value, str) or not value.strip():
                _fail(source, f"item {n}'s {key!r} must be a non-empty string", f"give {key} as text")
        for key in REQUIRED_ITEM:
            if key not in raw:
                _fail(source, f"item {n} lacks {key!r}", f"add {key} = \"...\" to it")
        if raw["id"] in seen:
            _fail(source, f"item id {raw['id']!r} is used twice", "give each item its own id")
        seen.add(raw["id"])
        if raw["evidence"] not in EVIDENCE:
            _fail(source, f"item {raw['id']!r} names unknown evidence {raw['evidence']!r}",
                  f"use one of {sorted(EVIDENCE)} (\"human\" where only a person can answer)")
        items.append(Item(**raw))
    if not items:
        _fail(source, "no items", "add at least one [[item]]")
    categories = {}
    for cat, cols in doc.get("categories", {}).items():
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            _fail(source, f"categories.{cat} must be a list of column names", f'write {cat} = ["column", ...]')
        categories[cat] = tuple(cols)
    return Profile(id=doc["id"], title=doc["title"], citation=doc["citation"], items=tuple(items), source=source,
                   description=doc.get("description", ""), notes=tuple(doc.get("notes", ())),
                   categories=categories, small_category_justification=doc.get("small_category_justification", ""))


def evaluate_profile(profile: Profile, run: Any, report: dict[str, Any]) -> dict[str, Any]:
    """The profile's checklist for ``run`` (with its report data ``report``): one row per requirement with its
    status and detail, the tables its evidence produced, and the counts per status."""
    from deepaudit.audit.compliance.evidence import EVIDENCE, Context

    ctx = Context(run=run, report=report, profile=profile)
    rows, tables = [], []
    for item in profile.items:
        status, detail, table = EVIDENCE[item.evidence](ctx, item)
        assert status in STATUSES, (item.evidence, status)
        rows.append({"id": item.id, "requirement": item.requirement, "citation": item.citation,
                     "evidence": item.evidence, "status": status, "detail": detail})
        if table is not None and all(t["id"] != table["id"] for t in tables):
            tables.append(table)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    return {"id": profile.id, "title": profile.title, "citation": profile.citation, "source": profile.source,
            "description": profile.description, "notes": list(profile.notes), "items": rows, "tables": tables,
            "counts": counts}
