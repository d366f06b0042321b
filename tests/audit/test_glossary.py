"""The glossary (audit/glossary.py): every term the issue names is defined, lookups find terms in headers and
titles, and the report and dashboard show the same entries."""
from deepaudit.audit.glossary import GLOSSARY, anchor, lookup

REQUIRED = ["TPR", "FPR", "ECE", "Impact ratio", "Four-fifths rule", "Wilson interval", "Bootstrap", "Holm correction",
            "Completeness", "Deletion / insertion", "Infidelity", "Randomization check"]


def test_required_terms_are_defined_in_plain_words():
    for term in REQUIRED:
        assert term in GLOSSARY and len(GLOSSARY[term].split()) >= 12, term
    assert len({anchor(t) for t in GLOSSARY}) == len(GLOSSARY)


def test_lookup_finds_the_term_a_header_names():
    assert lookup("TPR [95% CI]").startswith("TPR:")
    assert lookup("Impact ratio [95% CI]").startswith("Impact ratio:")
    assert lookup("Selection rate − white [95% CI]").startswith("Selection rate:")
    assert lookup("Calibration error within race groups") is None  # words, not the ECE abbreviation
    assert lookup("n (share)") is None
    assert lookup("stpr") is None  # abbreviations match whole words only


def test_dashboard_glossary_page_and_header_tooltips():
    from deepaudit.dashboard import data
    from deepaudit.dashboard.pages import glossary
    from tests.dashboard.util import text

    page = text(glossary.build())
    assert all(term in page for term in REQUIRED)
    tips = data.header_tooltips(data.group_columns())
    assert tips["tpr"].startswith("TPR:") and tips["impact_ratio"].startswith("Impact ratio:")
    assert "group" not in tips
