"""What a report or the dashboard shows of the evaluated inputs, stored in the run at audit time.

A run directory is data: reading it never loads the model or imports the code
its ``model.spec`` names (that spec could point anywhere). So the runner writes
the raw inputs of the explained samples into ``arrays/display.npz``:

* images: ``images`` (float32, one raw image per sample),
* texts: ``texts_json`` (UTF-8 JSON list of strings) and, when the target has
  a tokenizer, ``tokens_json`` (per text, the ``[token, start, end]`` the model
  read) so attributions can be placed on the text without the tokenizer,
* tabular rows: ``rows_json`` (UTF-8 JSON ``{"columns": [...], "rows": [[...]]}``
  of the raw, unpreprocessed values),

each beside ``sample_index`` (positions in the evaluation data). Strings travel
as UTF-8 bytes in a ``uint8`` array because NumPy's fixed-width unicode arrays
would pad every string to the longest one; ``np.load(allow_pickle=False)`` and
``json.loads`` read them as data only.

The payload is bounded: at most :data:`MAX_SAMPLES` samples and
:data:`MAX_BYTES` bytes, whichever is reached first (the first samples of the
explained subset are kept); :func:`read_display` reports what was left out.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

ARRAY_NAME = "display"
#: At most this many samples are stored for display.
MAX_SAMPLES = 1000
#: ... and at most this many bytes (before compression).
MAX_BYTES = 16 * 2 ** 20
#: A single text is cut to this many characters for display.
MAX_TEXT_CHARS = 50_000
#: A tabular string value is cut to this many characters.
MAX_CELL_CHARS = 200

NO_DISPLAY = ("this run stored no raw inputs for display (it was audited by an older deepaudit, or its target "
              "has no eval_data.raw). Fix: audit the model again with this version.")
DAMAGED_DISPLAY = "the run's display samples (arrays/display.npz) are unreadable ({error}). Fix: audit the model again."


def _encode(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, allow_nan=False).encode("utf-8"), dtype=np.uint8)


def _decode(arr: np.ndarray) -> Any:
    if arr.dtype != np.uint8 or arr.ndim != 1:
        raise ValueError(f"expected a 1-d uint8 array, got {arr.dtype} {arr.shape}")
    return json.loads(arr.tobytes().decode("utf-8"))


def _cell(v: Any) -> Any:
    """A raw tabular value as JSON: finite numbers as such, missing as None, anything else as a short string."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    return str(v)[:MAX_CELL_CHARS]


def _unnormalised(target: Any, index: np.ndarray) -> np.ndarray:
    """The image inputs at ``index`` with the declared normalisation undone (x * std + mean per channel), as
    float32 (only those rows are read: the inputs may be a RowSource too large for memory)."""
    x = target.eval_data.inputs[np.asarray(index, dtype=np.int64)].detach().cpu().float().numpy()
    norm = (getattr(target, "provenance", None) or {}).get("normalisation") or {}
    if x.ndim == 4 and "mean" in norm and "std" in norm:
        shape = (1, x.shape[1], 1, 1)
        mean = np.asarray(norm["mean"], dtype=np.float32).reshape(shape)
        std = np.asarray(norm["std"], dtype=np.float32).reshape(shape)
        x = x * std + mean
    return x


def _is_text(raw: Any) -> bool:
    first = raw[0] if len(raw) else None
    return isinstance(first, str)


def display_arrays(target: Any, index: np.ndarray) -> dict[str, np.ndarray] | None:
    """The ``display`` array set for the samples at ``index`` of ``target.eval_data``; None without raw inputs."""
    raw = target.eval_data.raw
    if raw is None:
        from deepaudit.audit.capabilities import infer_kind

        if infer_kind(target) != "image":
            return None
        # An image model's inputs are its images: shown as they were before normalisation, when the target
        # declares it (provenance["normalisation"] = {"mean": per channel, "std": per channel}).
    index = np.asarray(index, dtype=np.int64)[:MAX_SAMPLES]
    try:
        if raw is None:
            # only the shown rows are read (the inputs may be a RowSource too large for memory), looked up by
            # their evaluation index
            shown = _unnormalised(target, index)
            return _images({int(k): shown[i] for i, k in enumerate(index)}, index)
        if isinstance(raw, pd.DataFrame):
            return _rows(raw, index)
        if _is_text(raw):
            return _texts(raw, index, getattr(target, "tokenizer", None))
        return _images(raw, index)
    except Exception as exc:  # a user's odd raw container must not cost the audit; the report says why
        log.warning("raw inputs of %s not stored for display: %s: %s", target.name, type(exc).__name__, exc)
        return None


def _cells(column: pd.Series) -> list[Any]:
    """:func:`_cell` of every value of a column; a numpy column of numbers or booleans converted at once."""
    values = column.tolist()
    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else ""
    if kind in ("b", "i", "u"):
        return values                                   # Python bools and ints already
    if kind == "f":
        return [v if math.isfinite(v) else None for v in values]
    return [_cell(v) for v in values]


def _rows(raw: pd.DataFrame, index: np.ndarray) -> dict[str, np.ndarray]:
    columns = [str(c) for c in raw.columns]
    picked = raw.iloc[index]
    # Column by column, each value keeps its column's type (a row Series would turn ints into floats
    # beside a float column), and one pass per column instead of one Series per row.
    values = [_cells(picked.iloc[:, j]) for j in range(picked.shape[1])]
    rows = [list(row) for row in zip(*values)] if values else [[] for _ in index]
    # The rows' JSON sizes add up to the size of their list less its brackets and ", " separators;
    # only when that is over the budget are rows measured one by one, to keep those that fit.
    if len(json.dumps(rows)) - 2 * len(rows) > MAX_BYTES:
        used = 0
        for n, row in enumerate(rows):
            used += len(json.dumps(row))
            if used > MAX_BYTES:
                rows = rows[:n]
                break
    return {"sample_index": index[:len(rows)], "rows_json": _encode({"columns": columns, "rows": rows})}


def _texts(raw: Any, index: np.ndarray, tokenizer: Any) -> dict[str, np.ndarray]:
    texts, tokens, used = [], [], 0
    for k in index:
        text = str(raw[int(k)])[:MAX_TEXT_CHARS]
        toks = ([[t.text, int(t.start), int(t.end)] for t in tokenizer.tokens(text)]
                if tokenizer is not None and hasattr(tokenizer, "tokens") else None)
        used += len(text.encode("utf-8")) + (len(json.dumps(toks)) if toks else 0)
        if used > MAX_BYTES:
            break
        texts.append(text)
        tokens.append(toks)
    out = {"sample_index": index[:len(texts)], "texts_json": _encode(texts)}
    if tokenizer is not None and all(t is not None for t in tokens):
        out["tokens_json"] = _encode(tokens)
    return out


def _images(raw: Any, index: np.ndarray) -> dict[str, np.ndarray] | None:
    first = np.asarray(raw[int(index[0])]) if len(index) else None
    if first is None or first.dtype.kind not in "biuf":
        return None
    keep = max(1, min(len(index), MAX_BYTES // max(1, first.size * 4)))
    index = index[:keep]
    images = np.stack([np.asarray(raw[int(k)], dtype=np.float32) for k in index])
    return {"sample_index": index, "images": images}


@dataclass
class Display:
    """The raw inputs a run stored for display; look samples up by their evaluation index."""

    sample_index: np.ndarray
    images: np.ndarray | None = None
    texts: list[str] | None = None
    tokens: list[list[list[Any]]] | None = None
    rows: pd.DataFrame | None = None
    note: str = ""
    _pos: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._pos = {int(k): i for i, k in enumerate(self.sample_index.tolist())}

    def has(self, k: int) -> bool:
        return int(k) in self._pos

    def image(self, k: int) -> np.ndarray | None:
        return None if self.images is None or not self.has(k) else self.images[self._pos[int(k)]]

    def text(self, k: int) -> str | None:
        return None if self.texts is None or not self.has(k) else self.texts[self._pos[int(k)]]

    def row(self, k: int) -> dict[str, Any] | None:
        return None if self.rows is None or not self.has(k) else self.rows.iloc[self._pos[int(k)]].to_dict()

    def token_attributions(self, k: int, attribution_row: Any) -> pd.DataFrame | None:
        """Like :func:`deepaudit.audit.explain.views.token_attributions`, from the stored tokens (None if not
        stored)."""
        if self.tokens is None or not self.has(k):
            return None
        toks = self.tokens[self._pos[int(k)]]
        a = np.asarray(attribution_row, dtype=np.float64).reshape(-1)
        n = min(len(toks), len(a))
        return pd.DataFrame({"position": np.arange(n), "token": [t[0] for t in toks[:n]],
                             "start": [int(t[1]) for t in toks[:n]], "end": [int(t[2]) for t in toks[:n]],
                             "attribution": a[:n]})

    def n_tokens(self, k: int) -> int:
        return 0 if self.tokens is None or not self.has(k) else len(self.tokens[self._pos[int(k)]])


def read_display(run: Any) -> Display:
    """The run's stored display inputs; an empty :class:`Display` whose ``note`` says why when there are none.

    Read once per :class:`~deepaudit.audit.store.Run` object (a run never changes once written).
    """
    cached = getattr(run, "__dict__", {}).get("_display")
    if cached is None:
        cached = _read_display(run)
        if hasattr(run, "__dict__"):
            object.__setattr__(run, "_display", cached)
    return cached


def _read_display(run: Any) -> Display:
    empty = np.zeros(0, dtype=np.int64)
    if ARRAY_NAME not in run.array_names():
        return Display(empty, note=NO_DISPLAY)
    try:
        arrs = run.arrays(ARRAY_NAME)
        index = np.asarray(arrs["sample_index"], dtype=np.int64).reshape(-1)
        out = Display(index)
        if "images" in arrs:
            if len(arrs["images"]) != len(index) or arrs["images"].dtype.kind != "f":
                raise ValueError("images do not match sample_index")
            out.images = arrs["images"]
        if "texts_json" in arrs:
            texts = _decode(arrs["texts_json"])
            if not isinstance(texts, list) or len(texts) != len(index) or not all(isinstance(t, str) for t in texts):
                raise ValueError("texts do not match sample_index")
            out.texts = texts
            if "tokens_json" in arrs:
                tokens = _decode(arrs["tokens_json"])
                if not isinstance(tokens, list) or len(tokens) != len(index):
                    raise ValueError("tokens do not match sample_index")
                out.tokens = tokens
        if "rows_json" in arrs:
            table = _decode(arrs["rows_json"])
            rows = table["rows"]
            if len(rows) != len(index):
                raise ValueError("rows do not match sample_index")
            out.rows = pd.DataFrame(rows, columns=[str(c) for c in table["columns"]])
        return out
    except Exception as exc:  # a damaged file costs the examples, never the report
        return Display(empty, note=DAMAGED_DISPLAY.format(error=f"{type(exc).__name__}: {exc}"))
