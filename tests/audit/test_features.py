"""The inputs' codebook: labels with units, decoded codes, flags (deepaudit.audit.features), and the mortgage codebook
checked against the data it describes."""
import numpy as np
import pandas as pd
import pytest

from deepaudit.audit.features import FLAGS, Codebook, code_key

BOOK = Codebook(labels={"prop": "property type", "bd": "tract boarded-up rate above median", "x": "amount ($)"},
                codes={"prop": {"1": "condominium", "2": "single-family"}, "bd": {"0": "no", "1": "yes"}},
                flags={"bd": "geographic"})


def test_labels_mark_flagged_inputs_and_their_missing_indicators():
    assert BOOK.label("prop") == "property type"
    assert BOOK.label("bd") == "tract boarded-up rate above median (geographic)"
    assert BOOK.label("bd_missing") == BOOK.label("bd") and BOOK.flag("bd_missing") == "geographic"
    assert BOOK.label("bd", mark=False) == "tract boarded-up rate above median"
    assert BOOK.label("unknown_col") == "unknown_col"
    assert BOOK.label_map(["x", "bd"]) == {"x": "amount ($)", "bd": BOOK.label("bd")}


def test_values_are_decoded_with_their_code():
    assert BOOK.value("prop", 1.0) == "condominium (1)" and BOOK.value("prop", np.float32(2)) == "single-family (2)"
    assert BOOK.value("bd", 0) == "no (0)" and BOOK.value("bd", True) == "yes (1)"
    assert BOOK.value("prop", 7) == "7"        # a code the book does not list stays as stored
    assert BOOK.value("x", 1234.5) == "1234.5" and BOOK.value("x", float("nan")) == "missing"
    assert BOOK.value("x", None) == "missing"
    assert code_key(3.0) == "3" and code_key("A") == "A" and code_key(np.int64(5)) == "5"


def test_flag_note_explains_each_flag_used():
    note = BOOK.flagged_note(["prop", "bd"])
    assert note.startswith("(geographic) marks an input that") and FLAGS["geographic"] in note
    assert BOOK.flagged_note(["prop"]) == ""


def test_round_trip_and_damaged_stored_codebooks():
    assert Codebook.from_stored(BOOK.to_dict()) == Codebook.from_stored(Codebook.from_stored(BOOK.to_dict()).to_dict())
    assert Codebook.from_result({"model": {"features": BOOK.to_dict()}}).label("bd") == BOOK.label("bd")
    # older runs have none; a damaged one (unknown flag, codes not a mapping) reads as empty, never raises
    for stored in (None, {}, {"flags": {"bd": "nonsense"}}, {"codes": {"prop": [1, 2]}}, "garbage"):
        assert Codebook.from_stored(stored).label("bd") == "bd"


def test_bad_codebook_is_refused_when_the_target_is_validated(bundled_target):
    with pytest.raises(ValueError, match="not a known flag.*Fix: use one of"):
        Codebook(flags={"zip": "postal"})
    with pytest.raises(ValueError, match="must map codes to meanings"):
        Codebook(codes={"prop": {1: "condominium"}})
    import copy

    t = copy.copy(bundled_target("mortgage"))
    t.provenance = {**t.provenance, "feature_flags": {"bd": "geografic"}}
    with pytest.raises(ValueError, match="Target 'mortgage'.*'geografic' is not a known flag"):
        t.validate()


def test_mortgage_codebook_agrees_with_the_data():
    """The decoded levels are claims about the data: check each against the dataset's own indicators."""
    from deepaudit.models.finance import data

    d = data.load_loanapp()
    for code, dummy in zip("1234", ("mortno", "mortperf", "mortlat1", "mortlat2")):  # mortg levels
        assert (d.loc[d["mortg"] == int(code), dummy] == 1).all(), data.CODES["mortg"][code]
        assert "mort" in data.CODES["mortg"][code] or "late" in data.CODES["mortg"][code]
    delinquent = d["cons"].isin([5, 6])                       # cons 5-6 "delinquent" exactly where chist = 0
    assert ((d["chist"] == 0) == delinquent).all()
    assert all("delinquent" in data.CODES["cons"][c] for c in "56")
    units = pd.to_numeric(d["unit"], errors="coerce")         # prop 3: the multi-unit properties
    assert (units[d["prop"] == 3].dropna() >= 2).mean() > 0.9 and (units[d["prop"] != 3].dropna() == 1).mean() > 0.99
    # every binary indicator said to be yes/no takes only 0 and 1 (missing aside)
    for col, codes in data.CODES.items():
        if codes == {"0": "no", "1": "yes"}:
            values = pd.to_numeric(d[col], errors="coerce")
            values = values[~values.isin(data.SENTINELS.get(col, []))]  # codebook sentinels mean "missing"
            assert set(values.dropna().unique()) <= {0.0, 1.0}, col
    assert set(data.FLAGS) <= set(data.FEATURES) and set(data.FLAGS.values()) <= set(FLAGS)


def test_mortgage_target_carries_the_codebook(bundled_target):
    t = bundled_target("mortgage")
    book = Codebook.from_provenance(t.provenance)
    assert book.label("apr") == "appraised value ($1000s)" and book.label("vr").endswith("(geographic)")
    assert book.value("prop", 1) == "condominium (1)" and book.value("gdlin", 0) == "no (0)"
    assert set(book.codes) <= set(t.feature_names) and set(book.flags) <= set(t.feature_names)
