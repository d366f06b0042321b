"""Evaluation inputs read in batches, never held whole: :class:`RowSource`.

A target's ``eval_data.inputs`` is usually one tensor. For data that does not fit in memory (50,000 images
at 224 x 224 are 30 GB as float32) it can be a :class:`RowSource` instead:

- ``RowSource(dataset, transform=...)``: a map-style dataset (``len(dataset)`` and ``dataset[i]``, e.g. a
  ``torch.utils.data.Dataset``) whose items are a tensor or array per row, or a tuple whose first element is
  (``(image, label)`` datasets);
- ``RowSource.from_parquet(path, columns=..., transform=...)``: rows of numeric columns of a Parquet file,
  read by row group.

``transform`` maps a batch (a float or integer tensor of stacked rows) to model-ready inputs, e.g. scaling
and normalising images. Labels, groups and predictions stay ordinary per-row arrays in memory; the inputs
are read ``batch_size`` rows at a time when every row is needed (prediction, validation, the data hash,
noise scales) and row by row for the explained sample.

A ``RowSource`` answers the tensor questions the audit asks of its inputs (``len``, ``shape``, ``dtype``,
``dim()``, ``is_floating_point()``, indexing by an int, a slice, an index array or a boolean mask, which
returns a tensor). Whole-data conversions (``cpu()``, ``float()``, ``numpy()``, ``materialize()``) read
every row into one tensor: only the tabular-only stages use them (the gap decomposition, proxies), where
the inputs are small.
The data hash of a source equals that of the same rows held as one tensor
(:func:`deepaudit.audit.weights.sha256_arrays` reads a source batch by batch).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

NOT_A_DATASET = ("RowSource needs a map-style dataset: len(dataset) and dataset[i] (got {type}). Fix: wrap your "
                 "data in a torch.utils.data.Dataset, or use RowSource.from_parquet(path, columns=[...]).")
BAD_ITEM = ("dataset[{i}] is a {type}, not a tensor or array (or a tuple starting with one). Fix: return the "
            "row's input first, e.g. (image, label).")
EMPTY_SOURCE = "the row source has no rows. Fix: point it at a dataset or file with at least one row."
NO_COLUMNS = "{path}: none of the columns {columns} is numeric. Fix: pass columns=[...] naming numeric columns."


def _as_tensor(item: Any, i: int) -> torch.Tensor:
    if isinstance(item, (tuple, list)) and item and not isinstance(item[0], (int, float)):
        item = item[0]
    if isinstance(item, torch.Tensor):
        return item.detach().cpu()
    if (isinstance(item, np.ndarray) or np.isscalar(item)) and np.asarray(item).dtype.kind in "biuf":
        return torch.from_numpy(np.asarray(item))
    raise TypeError(BAD_ITEM.format(i=i, type=type(item).__name__))


class _Parquet:
    """Rows of a Parquet file's numeric columns, read by row group (random access) or in order (batches)."""

    def __init__(self, path: str | Path, columns: Sequence[str] | None) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.file = pq.ParquetFile(self.path)
        schema = self.file.schema_arrow
        import pyarrow as pa

        names = list(columns) if columns is not None else [f.name for f in schema]
        self.columns = [c for c in names if pa.types.is_integer(schema.field(c).type)
                        or pa.types.is_floating(schema.field(c).type) or pa.types.is_boolean(schema.field(c).type)]
        if not self.columns:
            raise ValueError(NO_COLUMNS.format(path=self.path, columns=names))
        sizes = [self.file.metadata.row_group(g).num_rows for g in range(self.file.num_row_groups)]
        self.starts = np.r_[0, np.cumsum(sizes)].astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getstate__(self) -> dict[str, Any]:        # sent to Ray workers: they reopen the file
        return {"path": str(self.path), "columns": self.columns}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["columns"])

    def _group(self, g: int) -> np.ndarray:
        cached = getattr(self, "_last", None)
        if cached is not None and cached[0] == g:       # consecutive reads of one row group read it once
            return cached[1]
        table = self.file.read_row_group(g, columns=self.columns)
        rows = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float32)
                                for c in self.columns])
        self._last = (g, rows)
        return rows

    def take(self, index: np.ndarray) -> np.ndarray:
        out = np.empty((len(index), len(self.columns)), dtype=np.float32)
        groups = np.searchsorted(self.starts, index, side="right") - 1
        for g in np.unique(groups):
            sel = groups == g
            out[sel] = self._group(int(g))[index[sel] - self.starts[g]]
        return out


class RowSource:
    """Model inputs read in batches from a map-style dataset or a Parquet file (module docstring)."""

    def __init__(self, dataset: Any, *, transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 batch_size: int = 256) -> None:
        if not isinstance(dataset, _Parquet) and not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(NOT_A_DATASET.format(type=type(dataset).__name__))
        self.dataset = dataset
        self.transform = transform
        self.batch_size = int(batch_size)
        if len(dataset) == 0:
            raise ValueError(EMPTY_SOURCE)
        first = self._read(np.zeros(1, dtype=np.int64))
        self._row_shape = tuple(first.shape[1:])
        self._dtype = first.dtype

    @classmethod
    def from_parquet(cls, path: str | Path, *, columns: Sequence[str] | None = None,
                     transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     batch_size: int = 65_536) -> RowSource:
        """Rows of ``columns`` (default: every numeric column) of a Parquet file, as float32."""
        return cls(_Parquet(path, columns), transform=transform, batch_size=batch_size)

    # -- reading -------------------------------------------------------------------------------------------
    def _read(self, index: np.ndarray) -> torch.Tensor:
        if isinstance(self.dataset, _Parquet):
            batch = torch.from_numpy(self.dataset.take(index))
        else:
            rows = [_as_tensor(self.dataset[int(i)], int(i)) for i in index]
            batch = torch.stack(rows) if rows else torch.empty(0)
        return self.transform(batch) if self.transform is not None else batch

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(start, rows start..start+k)`` over every row in order."""
        step = int(batch_size or self.batch_size)
        for start in range(0, len(self), step):
            yield start, self._read(np.arange(start, min(len(self), start + step), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Any) -> torch.Tensor:
        n = len(self)
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if int(key) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {key} of {n}")
            return self._read(np.array([i], dtype=np.int64))[0]
        if isinstance(key, slice):
            return self._read(np.arange(n, dtype=np.int64)[key])
        index = key.cpu().numpy() if isinstance(key, torch.Tensor) else np.asarray(key)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64).reshape(-1)
        index = np.where(index < 0, index + n, index)
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"rows out of range for {n} rows")
        return self._read(index)

    # -- the tensor questions the audit asks --------------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self._row_shape))

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def dim(self) -> int:
        return 1 + len(self._row_shape)

    @property
    def ndim(self) -> int:
        return self.dim()

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    def as_float(self) -> RowSource:
        """The same rows cast to float32 after the transform."""
        inner = self.transform
        out = RowSource.__new__(RowSource)
        out.dataset, out.batch_size = self.dataset, self.batch_size
        out.transform = (lambda b: inner(b).float()) if inner is not None else (lambda b: b.float())
        out._row_shape, out._dtype = self._row_shape, torch.float32
        return out

    # -- whole-data conversions: every row in one tensor (tabular-only stages) ---------------------------
    def materialize(self) -> torch.Tensor:
        return torch.cat([b for _, b in self.batches()])

    def cpu(self) -> torch.Tensor:
        return self.materialize()

    def detach(self) -> torch.Tensor:   # the gap decomposition's `inputs.detach().float().cpu()`
        return self.materialize()

    def float(self) -> torch.Tensor:
        return self.materialize().float()

    def numpy(self) -> np.ndarray:
        return self.materialize().numpy()

    # -- statistics over every row, in batches ----------------------------------------------------------------
    def non_finite(self, hash_into: Any = None) -> tuple[int, int | None]:
        """(count of NaN/inf values, first row holding one); with ``hash_into``, the same pass feeds it what
        :meth:`sha256_update` would (validation reads a large source once, not twice)."""
        count, first = 0, None
        if hash_into is not None:
            self._hash_header(hash_into)
        for start, b in self.batches():
            if hash_into is not None:
                hash_into.update(np.ascontiguousarray(b.numpy()).tobytes())
            if not self.is_floating_point():
                continue
            bad = ~torch.isfinite(b.reshape(len(b), -1))
            if bool(bad.any()):
                count += int(bad.sum())
                if first is None:
                    first = start + int(bad.any(1).nonzero().flatten()[0])
        return count, first

    def std(self, per_feature: bool) -> torch.Tensor:
        """Unbiased standard deviation per feature (rows) or over every value (images), as torch.std gives.
        One pass over the rows, remembered (the robustness checks of every method ask for it)."""
        cache = self.__dict__.setdefault("_std_cache", {})
        if per_feature not in cache:
            cache[per_feature] = self._std(per_feature)
        return cache[per_feature]

    def _std(self, per_feature: bool) -> torch.Tensor:
        total, total_sq, count = None, None, 0
        for _, b in self.batches():
            v = b.double().reshape(len(b), -1) if per_feature else b.double().reshape(-1, 1)
            s, sq = v.sum(0), (v * v).sum(0)
            total = s if total is None else total + s
            total_sq = sq if total_sq is None else total_sq + sq
            count += len(v)
        mean = total / count
        var = (total_sq - count * mean * mean) / max(1, count - 1)
        out = var.clamp_min(0).sqrt().float()
        return out.reshape(self._row_shape) if per_feature else out.reshape(())

    def sha256_update(self, h: Any) -> None:
        """Feed ``h`` the bytes :func:`deepaudit.audit.weights.sha256_arrays` feeds for the same rows as one
        array (dtype, shape, then every row in order)."""
        self._hash_header(h)
        for _, b in self.batches():
            h.update(np.ascontiguousarray(b.numpy()).tobytes())

    def _hash_header(self, h: Any) -> None:
        first = self[0:1].numpy()
        h.update(f"{first.dtype.str}{tuple(self.shape)}".encode())

    def __repr__(self) -> str:
        return f"RowSource({type(self.dataset).__name__}, rows={len(self)}, row_shape={self._row_shape})"
