"""Plain-language definitions of the terms the report and the dashboard use (one source for both).

Each entry says what the number is and how to read it, in a sentence or two a reviewer without a statistics
background can use. ``docs/statistics.md`` has the exact definitions and the references.
"""
from __future__ import annotations

import re

GLOSSARY: dict[str, str] = {
    "Selection rate": "The share of a group that receives the favourable outcome (e.g. approved). Also called the "
                      "favourable rate.",
    "TPR": "True positive rate: of the people who truly merit the favourable outcome, the share the model gives it "
           "to. A lower TPR for a group means qualified members of that group are turned down more often.",
    "FPR": "False positive rate: of the people who truly do not merit the favourable outcome, the share the model "
           "gives it to anyway. Undefined for a group with no such people.",
    "PPV": "Positive predictive value (precision): of the people given the favourable outcome, the share who truly "
           "merit it.",
    "Share of denial": "For one denied applicant, a stated reason's part of everything that pulled the approval "
                       "score down (its attribution over the sum of all negative attributions); all reasons, stated "
                       "and unstated, add up to 100%.",
    "ECE": "Expected calibration error: how far the model's probabilities are from the observed frequencies, "
           "averaged over score bins (0 = a probability of 0.7 comes true 70% of the time).",
    "Impact ratio": "A group's selection rate divided by the highest selection rate among the eligible groups. 1 "
                    "means the same rate; 0.5 means half as often.",
    "Four-fifths rule": "A screening rule from US employment guidance (EEOC, 29 CFR 1607.4(D)) also used by NYC Local "
                        "Law 144: an impact ratio below 0.8 is flagged for review. It is a heuristic, not a test of "
                        "statistical significance.",
    "Demographic parity difference": "The highest minus the lowest selection rate across groups (0 = every group "
                                     "receives the favourable outcome equally often).",
    "Equalized odds difference": "The larger of the TPR spread and the FPR spread across groups (0 = the model "
                                 "makes the same kinds of errors for every group).",
    "Wilson interval": "A 95% confidence interval for a rate (a share of successes), reliable even for small groups "
                       "and for rates near 0 or 1.",
    "Score interval": "A 95% confidence interval for the difference or ratio of two groups' rates built from each "
                      "group's Wilson interval (Newcombe; MOVER-R); it stays valid for small groups where every "
                      "member got the same outcome.",
    "Bootstrap": "Estimating the uncertainty of a number by recomputing it on many resampled copies of the data "
                 "(here 1,000, drawn within each group); the middle 95% of the copies is the interval.",
    "Holm correction": "When many groups are tested at once some differences look significant by chance; Holm's "
                       "method raises the p-values so that the chance of any false alarm stays at 5%.",
    "p-value": "The probability of seeing a difference at least this large if the groups were in fact treated "
               "alike. Small (below 0.05) means the difference is unlikely to be chance.",
    "Completeness": "An attribution method is complete when the attributions of a prediction add up to how far the "
                    "model's output moved from a reference input; a check that they do, within 5%.",
    "Deletion / insertion": "Remove (or add back) input features in the order an explanation ranks them and watch "
                            "the prediction: a faithful ranking changes it faster than a random order.",
    "Infidelity": "How badly an explanation predicts the change in the model's output when the input is perturbed "
                  "a little (0 = perfectly; an unrelated explanation scores about 0.9 here).",
    "Max-sensitivity": "How much an explanation changes when the input changes very slightly; large values mean "
                       "single explanations are unstable.",
    "Randomization check": "Re-initialise the model's weights layer by layer: a faithful explanation must change "
                           "(similarity below 0.5), because it should depend on what the model learned.",
    "Proxy": "An input that stands in for a protected attribute the model does not see (e.g. a neighbourhood "
             "variable that tracks race), judged by its association with the attribute and how much the model "
             "relies on it for some group.",
    "Reason codes": "The principal reasons stated for a denial (Regulation B adverse action): the features that "
                    "pushed the applicant's score furthest toward denial relative to a reference applicant.",
}


def anchor(term: str) -> str:
    """The HTML id of a term's entry ("glossary-impact-ratio")."""
    return "glossary-" + re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-")


def lookup(text: str) -> str | None:
    """The definition of the first glossary term that ``text`` names (a table header, a check title), else None.

    Whole-word, case-insensitive for words, exact for abbreviations (TPR, FPR, PPV, ECE)."""
    for term, definition in GLOSSARY.items():
        key = term.split(" (")[0]
        pattern = rf"\b{re.escape(key)}\b" if key.isupper() else rf"(?i)\b{re.escape(key)}"
        if re.search(pattern, text):
            return f"{term}: {definition}"
    return None
