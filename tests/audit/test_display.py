"""Raw tabular rows stored for display: values keep their column's type, missing becomes None."""
import numpy as np
import pandas as pd

from audit.display import MAX_CELL_CHARS, _decode, _rows


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
