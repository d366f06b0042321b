"""Raw tabular rows stored for display: values keep their column's type, missing becomes None."""
import numpy as np
import pandas as pd

from deepaudit.audit.display import MAX_CELL_CHARS, _decode, _rows


def test_rows_keep_column_types_order_and_missing_values():
    df = pd.DataFrame({"amount": [100, 250, 75], "ratio": [0.5, np.nan, np.inf], "code": ["x", None, "z" * 500],
                       "count": pd.array([1, None, 3], dtype="Int64"), "flag": [True, False, True]})
    out = _rows(df, np.array([2, 0, 1]))
    got = _decode(out["rows_json"])
    assert got["columns"] == ["amount", "ratio", "code", "count", "flag"]
    # ints stay ints beside a float column (a row Series would give 75.0); NaN/inf/NA/None -> None
    assert got["rows"] == [[75, None, "z" * MAX_CELL_CHARS, 3, True],
                           [100, 0.5, "x", 1, True],
                           [250, None, None, None, False]]
    assert all(type(r[0]) is int for r in got["rows"])
    assert out["sample_index"].tolist() == [2, 0, 1]


def test_rows_stop_at_the_byte_budget(monkeypatch):
    import json

    import deepaudit.audit.display as display

    df = pd.DataFrame({"amount": np.arange(10), "name": [f"applicant {i}" for i in range(10)]})
    size = [len(json.dumps([int(i), f"applicant {i}"])) for i in range(10)]
    monkeypatch.setattr(display, "MAX_BYTES", sum(size[:4]))           # exactly four rows fit
    out = _rows(df, np.arange(10))
    assert out["sample_index"].tolist() == [0, 1, 2, 3]
    assert _decode(out["rows_json"])["rows"] == [[i, f"applicant {i}"] for i in range(4)]
    monkeypatch.setattr(display, "MAX_BYTES", sum(size))               # all fit, to the byte
    assert _rows(df, np.arange(10))["sample_index"].tolist() == list(range(10))
    monkeypatch.setattr(display, "MAX_BYTES", sum(size) - 1)
    assert _rows(df, np.arange(10))["sample_index"].tolist() == list(range(9))
