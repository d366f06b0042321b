"""Counterfactual fairness probe for text models: swap a name or identity term, watch the output.

Every template of :mod:`deepaudit.audit.fairness.lexicons` is filled with every word of
every group of an attribute (gendered first names, race-associated first
names, identity terms), and the model scores each filled sentence. Because
the sentences of different groups differ only in the substituted word, the
comparison is paired by template.

Definitions (``p(t, w)``: the model's probability of the favorable class for
template ``t`` filled with word ``w``; ``W_g``: the words of group ``g``):

- Group mean: mean of ``p(t, w)`` over templates and ``w in W_g``.
- Paired difference of groups a and b: mean over templates of
  ``mean_{w in W_a} p(t, w) - mean_{w in W_b} p(t, w)``.
- Intervals: percentile bootstrap (``n_boot`` replicates, seeded) that
  resamples templates, the same templates for every group (paired), and,
  with ``resample_words=True``, the words within each group, because the
  words are themselves a sample of possible names.
- Flip share of a pair (template level): the share of templates whose
  group-level prediction differs between a and b, the group-level prediction
  being the argmax of the class probabilities averaged over the group's words.
  ``word_flip_share`` is the finer share of (word of a, word of b) pairs on
  the same template with different predicted classes.
- Token attribution: Integrated Gradients toward the favorable class (on the
  embedding layer, from the target's baseline), summed over the token
  positions of the substituted word; ``token_attr_share`` is their share of
  the total absolute attribution of the sentence.
- OOV share: the share of a group's words of which some token is out of the
  model's vocabulary. Such a word reaches the model as the unknown token, the
  same input for every OOV word of every group, so it cannot carry a
  group-specific signal: a difference involving a mostly-OOV group measures
  the unknown token's effect.

Text targets must provide ``preprocess`` (or ``tokenizer.encode``) returning
padded token ids with 0 as padding, and, for OOV shares and attributions,
``tokenizer.tokens(text)`` with character offsets whose i-th token is the
i-th id column (true of :class:`deepaudit.models.nlp.tokenizer.Vocabulary`).
"""
from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepaudit.audit.capabilities import infer_kind
from deepaudit.audit.fairness.lexicons import CITATIONS, SubstitutionSet, substitution_sets
from deepaudit.audit.schema import Check
from deepaudit.audit.target import AuditTarget

ATTRIBUTE_ALIASES = {"identity": ("identity_gender", "identity_religion", "identity_orientation", "identity_race",
                                  "identity_nationality")}
UNK_TOKEN = "<unk>"

NOT_TEXT = ("counterfactual_probe needs a text target (a tokenizer or an embedding layer), got {name!r} with "
            "{domain} data. Fix: use the tabular/image fairness audit for this target.")
NO_FAVORABLE = ("target {name!r} sets no favorable_label, so there is no favorable outcome to compare. "
                "Fix: set favorable_label to one of class_names {classes}.")
NO_ENCODER = ("target {name!r} has neither preprocess nor tokenizer.encode, so texts cannot be turned into "
              "model inputs. Fix: set preprocess to a function list[str] -> token-id tensor.")
UNKNOWN_ATTRIBUTE = "unknown counterfactual attribute {name!r}. Fix: use 'all' or one of {known}."
BAD_N_BOOT = "n_boot must be an integer >= 1, got {value!r}. Fix: pass e.g. n_boot=1000."
BAD_TEMPLATE = ("template {template!r} must contain the placeholder {{{slot}}} exactly once. "
                "Fix: edit the template.")

GROUP_COLUMNS = ["attribute", "group", "n", "n_words", "n_templates", "mean_prob", "lo", "hi", "pred_favorable_share",
                 "oov_share", "n_explained", "mean_token_attribution", "token_attr_share", "method"]
PAIR_COLUMNS = ["attribute", "group_a", "group_b", "mean_diff", "lo", "hi", "method", "n_templates", "flip_share",
                "word_flip_share"]
INSTANCE_COLUMNS = ["template_id", "template", "tone", "attribute", "group", "word", "text", "prob", "pred", "oov",
                    "token_attribution", "token_attr_share"]


@dataclass
class CounterfactualResult:
    """Tables of a counterfactual probe (see the module docstring for definitions).

    Attributes
    ----------
    groups : DataFrame
        One row per (attribute, group): ``n`` instances, mean favorable
        probability with its bootstrap interval, OOV share and token attribution.
    pairs : DataFrame
        One row per (attribute, group_a, group_b): paired difference with its
        interval, template-level and word-level flip shares.
    instances : DataFrame
        One row per filled template.
    settings : dict
        Seed, bootstrap size, IG steps, favorable class, citations, timing.
    notes : list of str
        Caveats a reader must see (groups with out-of-vocabulary words, missing token offsets).
    """

    groups: pd.DataFrame
    pairs: pd.DataFrame
    instances: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready records (NaN -> None)."""
        from deepaudit.audit.store import to_jsonable

        return to_jsonable({"groups": self.groups, "pairs": self.pairs, "settings": dict(self.settings),
                            "notes": list(self.notes)})


def resolve_attributes(attribute: str | Sequence[str]) -> list[SubstitutionSet]:
    """``'all'``, an alias (``'identity'``), one name or a list of names -> substitution sets, in order."""
    sets = substitution_sets()
    requested = [attribute] if isinstance(attribute, str) else list(attribute)
    out: list[str] = []
    for name in requested:
        expanded = list(sets) if name == "all" else ATTRIBUTE_ALIASES.get(name, (name,))
        for attr in expanded:
            if attr not in sets:
                raise ValueError(UNKNOWN_ATTRIBUTE.format(name=name, known=["all", *ATTRIBUTE_ALIASES, *sets]))
            if attr not in out:
                out.append(attr)
    return [sets[a] for a in out]


def counterfactual_probe(audit_target: AuditTarget, *, attribute: str | Sequence[str] = "all", seed: int = 0,
                         n_boot: int = 1000, explain: bool = True, n_steps: int = 50,
                         explain_per_template: int | None = 4, resample_words: bool = True,
                         batch_size: int = 512) -> CounterfactualResult:
    """Score templates filled with each group's words and compare groups pairwise.

    Parameters
    ----------
    audit_target : AuditTarget
        A text target (domain ``"nlp"``) with a ``favorable_label``.
    attribute : str or list of str
        ``"gender"`` (census first names), ``"race"`` (Bertrand & Mullainathan
        names), ``"identity"`` (all identity-term attributes), one identity
        attribute such as ``"identity_religion"``, or ``"all"``.
    seed : int
        Seeds the bootstrap; the same seed gives identical tables.
    n_boot : int
        Bootstrap replicates for every interval.
    explain : bool
        Compute Integrated Gradients on the substituted tokens (the slow part);
        attribution columns are NaN when False.
    n_steps : int
        IG quadrature steps (50 keeps >= 95% of the sentiment model's
        instances within 5% of completeness).
    explain_per_template : int or None
        IG costs ``n_steps`` backward passes per sentence, so only this many
        words per (template, group), drawn with ``seed``, are attributed; the
        group's attribution columns average those (``n_explained``). None
        attributes every instance.
    resample_words : bool
        Also resample words within groups in the bootstrap (see module docstring).
    batch_size : int
        Forward-pass batch size.

    Returns
    -------
    CounterfactualResult

    Raises
    ------
    ValueError
        Non-text target, no favorable label, no encoder, unknown attribute,
        bad ``n_boot``.
    """
    t = audit_target
    if infer_kind(t) != "text":
        raise ValueError(NOT_TEXT.format(name=t.name, domain=f"{infer_kind(t)} (domain {t.domain!r})"))
    if t.favorable_label is None:
        raise ValueError(NO_FAVORABLE.format(name=t.name, classes=list(t.class_names)))
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(BAD_N_BOOT.format(value=n_boot))
    encode = t.preprocess or getattr(t.tokenizer, "encode", None)
    if encode is None:
        raise ValueError(NO_ENCODER.format(name=t.name))
    sets = resolve_attributes(attribute)
    fav = list(t.class_names).index(t.favorable_label)

    inst = _instances(sets)
    texts = list(inst["text"])
    ids = encode(texts)
    ids, probe_target = trim_padding(t, ids, batch_size=batch_size)
    logits = probe_target.logits(ids, batch_size=batch_size).double()
    probs = torch.softmax(logits, dim=1).numpy()
    inst["prob"] = probs[:, fav]
    pred_idx = probs.argmax(1)
    inst["pred"] = np.asarray(t.class_names, dtype=object)[pred_idx]

    positions = _substituted_positions(t.tokenizer, texts, inst["span_start"].to_numpy(), inst["span_end"].to_numpy())
    inst["oov"] = _oov(t.tokenizer, ids, positions)
    inst["token_attribution"] = np.nan
    inst["token_attr_share"] = np.nan
    completeness = None
    if explain and positions is not None:
        from deepaudit.audit.explain.base import make_explainer

        rows = _explained_rows(inst, sets, per_template=explain_per_template, seed=seed)
        x = ids[torch.as_tensor(rows)]
        attr = make_explainer("integrated_gradients", probe_target, n_steps=n_steps).attribute(x, target=fav)
        attr = attr.double().numpy()
        mask = np.zeros_like(attr, dtype=bool)
        for k, row in enumerate(rows):
            mask[k, positions[row]] = True
        total = np.abs(attr).sum(1)
        token_attr = np.full(len(inst), np.nan)
        token_share = np.full(len(inst), np.nan)
        token_attr[rows] = (attr * mask).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            token_share[rows] = np.where(total > 0, (np.abs(attr) * mask).sum(1) / total, np.nan)
        inst["token_attribution"] = token_attr
        inst["token_attr_share"] = token_share
        completeness = _completeness(probe_target, x, attr, logits[torch.as_tensor(rows), fav].numpy(), fav)

    group_rows, pair_rows, notes = [], [], []
    for s in sets:
        g_rows, p_rows = _compare(s, inst, probs, favorable=t.favorable_label, seed=seed, n_boot=int(n_boot),
                                  resample_words=resample_words)
        group_rows += g_rows
        pair_rows += p_rows
        for r in g_rows:
            if r["oov_share"] > 0:
                notes.append(f"{s.attribute}/{r['group']}: {r['oov_share']:.0%} of its {r['n_words']} words are "
                             f"out of the model's vocabulary and reach it as {UNK_TOKEN}; an OOV word cannot carry a "
                             "group-specific signal, so differences involving this group partly measure the "
                             "unknown token's effect.")
    if positions is None:
        notes.append("the target's tokenizer gives no token offsets (tokens(text)); OOV shares and token "
                     "attributions are not computed.")

    groups = pd.DataFrame(group_rows, columns=GROUP_COLUMNS)
    pairs = pd.DataFrame(pair_rows, columns=PAIR_COLUMNS)
    instances = inst[INSTANCE_COLUMNS].reset_index(drop=True)
    settings = {
        "seed": seed, "n_boot": int(n_boot), "resample_words": resample_words, "explain": explain,
        "explainer": "integrated_gradients" if explain else None, "n_steps": n_steps,
        "favorable_label": t.favorable_label, "attributes": [s.attribute for s in sets],
        "explain_per_template": explain_per_template,
        "n_instances": len(instances), "n_explained": int(instances["token_attribution"].notna().sum()),
        "ig_share_within_5pct_completeness": completeness, "padded_length": int(ids.shape[1]),
        "citations": {s.attribute: s.citation for s in sets} | {"templates": CITATIONS["templates"]},
    }
    return CounterfactualResult(groups=groups, pairs=pairs, instances=instances, settings=settings, notes=notes)


def counterfactual_checks(result: CounterfactualResult, *, max_abs_diff: float = 0.05,
                          max_flip_share: float = 0.05) -> list[Check]:
    """Two policy checks per attribute: largest |paired difference| and largest flip share.

    Ids are ``counterfactual_<attribute>_max_abs_diff`` and
    ``counterfactual_<attribute>_flip_share``. The value is the point estimate
    of the worst pair; the note names that pair, its interval and any
    out-of-vocabulary caveat.
    """
    checks = []
    for attr in dict.fromkeys(result.groups["attribute"]):
        pairs = result.pairs[result.pairs["attribute"] == attr]
        groups = result.groups[result.groups["attribute"] == attr]
        oov = groups[groups["oov_share"] > 0]
        oov_note = ("" if oov.empty else " OOV words (reach the model as <unk>, so carry no group signal): "
                    + ", ".join(f"{g} {s:.0%}" for g, s in zip(oov["group"], oov["oov_share"])) + ".")
        # two groups whose every word reaches the model as <unk> give the same input: their pair measures nothing
        unseen = set(groups.loc[groups["oov_share"] >= 1.0, "group"])
        blind = pairs["group_a"].isin(unseen) & pairs["group_b"].isin(unseen)
        why = ""
        if len(pairs) and blind.all():
            why = (f"every word of every group of {attr!r} is out of the model's vocabulary (each reaches it as "
                   f"{UNK_TOKEN}), so every swap gives the model the same input and the probe measured nothing. "
                   f"Fix: use words the model's vocabulary has, or a tokenizer with subwords.")
            pairs = pairs.iloc[:0]
        pairs = pairs[~blind] if len(pairs) else pairs
        if pairs.empty:
            why = why or f"attribute {attr!r} has fewer than two groups; nothing to compare."
            checks.append(Check(f"counterfactual_{attr}_max_abs_diff", _diff_description(attr, max_abs_diff), None,
                                max_abs_diff, "<=", why, **_fields("max_abs_diff", attr)))
            checks.append(Check(f"counterfactual_{attr}_flip_share", _flip_description(attr, max_flip_share), None,
                                max_flip_share, "<=", why, **_fields("flip_share", attr)))
            continue
        worst = pairs.loc[pairs["mean_diff"].abs().idxmax()]
        excludes_zero = worst["lo"] > 0 or worst["hi"] < 0
        diff_note = (f"worst pair {worst['group_a']} - {worst['group_b']}: {worst['mean_diff']:+.4f} "
                     f"[{worst['lo']:+.4f}, {worst['hi']:+.4f}] ({worst['method']}); interval "
                     f"{'excludes' if excludes_zero else 'includes'} 0.{oov_note}")
        checks.append(Check(f"counterfactual_{attr}_max_abs_diff", _diff_description(attr, max_abs_diff),
                            float(abs(worst["mean_diff"])), max_abs_diff, "<=", diff_note,
                            group=f"{worst['group_a']} - {worst['group_b']}", **_fields("max_abs_diff", attr)))
        flip = pairs.loc[pairs["flip_share"].idxmax()]
        flip_note = (f"worst pair {flip['group_a']} vs {flip['group_b']}: {flip['flip_share']:.1%} of "
                     f"{int(flip['n_templates'])} templates flip (word-level {flip['word_flip_share']:.1%}).{oov_note}")
        checks.append(Check(f"counterfactual_{attr}_flip_share", _flip_description(attr, max_flip_share),
                            float(flip["flip_share"]), max_flip_share, "<=", flip_note,
                            group=f"{flip['group_a']} vs {flip['group_b']}", **_fields("flip_share", attr)))
    return checks


def _fields(kind: str, attr: str) -> dict[str, Any]:
    """Structured fields of a counterfactual check (the threshold comes from the policy's counterfactual_* key)."""
    return {"family": f"counterfactual_{kind}", "subject": attr,
            "policy_key": {"max_abs_diff": "counterfactual_max_abs_diff",
                           "flip_share": "counterfactual_max_flip_share"}[kind],
            "params": {"threshold_source": "policy"}}


def _diff_description(attr: str, threshold: float) -> str:
    return (f"Counterfactual {attr}: largest paired difference in mean favorable probability between groups over "
            f"the same templates is at most {threshold}")


def _flip_description(attr: str, threshold: float) -> str:
    return (f"Counterfactual {attr}: share of templates whose predicted class changes when the group is swapped "
            f"is at most {threshold}")


# -- internals ------------------------------------------------------------------------------------

def _instances(sets: list[SubstitutionSet]) -> pd.DataFrame:
    rows = []
    for s in sets:
        placeholder = "{" + s.slot + "}"
        for template_id, (tone, template) in enumerate(s.templates):
            if template.count(placeholder) != 1:
                raise ValueError(BAD_TEMPLATE.format(template=template, slot=s.slot))
            prefix, suffix = template.split(placeholder)
            for group, words in s.groups.items():
                for word in words:
                    rows.append({"template_id": template_id, "template": template, "tone": tone,
                                 "attribute": s.attribute, "group": group, "word": word,
                                 "text": prefix + word + suffix,
                                 "span_start": len(prefix), "span_end": len(prefix) + len(word)})
    return pd.DataFrame(rows)


def trim_padding(t: AuditTarget, ids: torch.Tensor, *, batch_size: int) -> tuple[torch.Tensor, AuditTarget]:
    """Drop all-padding trailing columns when the model provably ignores them.

    Templates are ~15 tokens but text models pad to hundreds, and IG costs
    scale with the padded length. Trimming is used only when the logits of a
    sample of rows agree with and without the padding (a model that reads
    fixed positions keeps the full width).
    """
    if ids.ndim != 2 or ids.is_floating_point():
        return ids, t
    used = (ids != 0).any(0).nonzero()
    length = int(used.max()) + 1 if len(used) else 1
    if length >= ids.shape[1]:
        return ids, t
    sample = ids[:: max(1, len(ids) // 16)][:16]
    try:
        full = t.logits(sample, batch_size=batch_size)
        short = t.logits(sample[:, :length], batch_size=batch_size)
    except (RuntimeError, ValueError, IndexError, TypeError):
        # A model that needs its full width (fixed positions) fails on short inputs.
        return ids, t
    if full.shape != short.shape or not torch.allclose(full, short, atol=1e-5, rtol=1e-4):
        return ids, t
    baseline = t.baseline
    if baseline is not None and baseline.ndim >= 1 and baseline.shape[-1] == ids.shape[1]:
        baseline = baseline[..., :length]
    # A shallow copy: the caller's target keeps its full-width baseline.
    return ids[:, :length].contiguous(), dataclasses.replace(t, baseline=baseline)


def _substituted_positions(tokenizer: Any, texts: list[str], starts: np.ndarray,
                           ends: np.ndarray) -> list[list[int]] | None:
    tokens_of = getattr(tokenizer, "tokens", None)
    if tokens_of is None:
        return None
    out = []
    for text, start, end in zip(texts, starts, ends):
        out.append([i for i, tok in enumerate(tokens_of(text)) if tok.start < end and tok.end > start])
    return out


def _oov(tokenizer: Any, ids: torch.Tensor, positions: list[list[int]] | None) -> np.ndarray:
    stoi = getattr(tokenizer, "stoi", None)
    if positions is None or not isinstance(stoi, dict) or UNK_TOKEN not in stoi:
        return np.full(len(ids), np.nan)
    unk = stoi[UNK_TOKEN]
    ids_np = ids.numpy()
    return np.array([float(any(ids_np[row, p] == unk for p in pos if p < ids_np.shape[1]))
                     for row, pos in enumerate(positions)])


def _explained_rows(inst: pd.DataFrame, sets: list[SubstitutionSet], *, per_template: int | None,
                    seed: int) -> np.ndarray:
    """Row indices to attribute: up to ``per_template`` words per (template, group), seeded."""
    if per_template is None:
        return np.arange(len(inst))
    rows = []
    for s in sets:
        rng = _rng(seed, "explain:" + s.attribute)
        for template_id in range(len(s.templates)):
            for group in s.groups:
                idx = np.flatnonzero(((inst["attribute"] == s.attribute) & (inst["template_id"] == template_id)
                                      & (inst["group"] == group)).to_numpy())
                if len(idx) > per_template:
                    idx = np.sort(rng.choice(idx, size=per_template, replace=False))
                rows.append(idx)
    return np.concatenate(rows) if rows else np.arange(0)


def _completeness(t: AuditTarget, x: torch.Tensor, attr: np.ndarray, fav_logits: np.ndarray,
                  fav: int) -> float | None:
    """Share of attributed sentences whose IG sums to within 5% of F(x) - F(baseline)."""
    if t.baseline is None:
        base = torch.zeros_like(x[:1])
    else:
        base = t.baseline.to(x.dtype).expand_as(x[:1]).contiguous()
    try:
        base_logit = float(t.logits(base)[0, fav])
    except (RuntimeError, ValueError, IndexError, TypeError):
        # Completeness is a diagnostic; a baseline the model rejects leaves it unreported.
        return None
    gap = fav_logits - base_logit
    err = np.abs(attr.sum(1) - gap) / np.maximum(np.abs(gap), 1e-6)
    return float((err <= 0.05).mean()) if len(err) else None


def _rng(seed: int, attribute: str) -> np.random.Generator:
    # Keyed on the attribute name so one attribute's intervals do not depend
    # on which other attributes ran in the same call.
    return np.random.default_rng([int(seed), zlib.crc32(attribute.encode())])


def _compare(s: SubstitutionSet, inst: pd.DataFrame, probs: np.ndarray, *, favorable: str, seed: int,
             n_boot: int, resample_words: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sel = (inst["attribute"] == s.attribute).to_numpy()
    sub = inst[sel]
    sub_probs = probs[sel]
    n_t = len(s.templates)
    n_classes = probs.shape[1]
    rng = _rng(seed, s.attribute)
    t_idx = rng.integers(0, n_t, size=(n_boot, n_t))
    method = ("paired percentile bootstrap over templates" + (", words resampled within group" if resample_words
                                                               else "") + f" (B={n_boot}, seed={seed})")
    # Rows are built template-major, then group, then word, so each group's
    # probabilities reshape into a (templates, words) grid.
    group_pred, fav_means, class_frac, boot = {}, {}, {}, {}
    group_rows = []
    for group, words in s.groups.items():
        g = (sub["group"] == group).to_numpy()
        n_w = len(words)
        p = sub["prob"].to_numpy()[g].reshape(n_t, n_w)
        full = sub_probs[g].reshape(n_t, n_w, n_classes)
        preds = full.argmax(2)
        fav_means[group] = p.mean(1)
        group_pred[group] = full.mean(1).argmax(1)
        class_frac[group] = np.stack([(preds == c).mean(1) for c in range(n_classes)], axis=1)
        if resample_words and n_w > 1:
            w_idx = rng.integers(0, n_w, size=(n_boot, n_w))
            row_means = p[:, w_idx].mean(2)                 # (templates, boot)
        else:
            row_means = np.repeat(p.mean(1)[:, None], n_boot, axis=1)
        boot[group] = row_means[t_idx, np.arange(n_boot)[:, None]].mean(1)
        lo, hi = np.percentile(boot[group], [2.5, 97.5])
        token_attr = sub["token_attribution"].to_numpy()[g]
        oov = sub["oov"].to_numpy()[g].reshape(n_t, n_w)
        word_oov = np.nan if np.isnan(oov).all() else float(oov.max(0).mean())
        group_rows.append({
            "attribute": s.attribute, "group": group, "n": int(g.sum()), "n_words": n_w, "n_templates": n_t,
            "mean_prob": float(p.mean()), "lo": float(lo), "hi": float(hi),
            "pred_favorable_share": float((sub["pred"].to_numpy()[g] == favorable).mean()),
            "oov_share": word_oov,
            "n_explained": int(np.isfinite(token_attr).sum()),
            "mean_token_attribution": _nanmean(token_attr),
            "token_attr_share": _nanmean(sub["token_attr_share"].to_numpy()[g]),
            "method": method,
        })
    pair_rows = []
    for a, b in combinations(s.groups, 2):
        diff = fav_means[a] - fav_means[b]
        lo, hi = np.percentile(boot[a] - boot[b], [2.5, 97.5])
        word_flip = 1.0 - (class_frac[a] * class_frac[b]).sum(1)
        pair_rows.append({
            "attribute": s.attribute, "group_a": a, "group_b": b, "mean_diff": float(diff.mean()),
            "lo": float(lo), "hi": float(hi), "method": method, "n_templates": n_t,
            "flip_share": float((group_pred[a] != group_pred[b]).mean()), "word_flip_share": float(word_flip.mean()),
        })
    return group_rows, pair_rows



def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else float("nan")
