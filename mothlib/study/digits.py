"""The ``data`` stage of the second task: scikit-learn's handwritten digits, split and scaled.

The data set is :func:`sklearn.datasets.load_digits` (1,797 images of 8x8 pixels with values
0..16, 10 classes), shipped inside scikit-learn: nothing is downloaded. Rows are split
train/validation/test (64/16/20 by default) by a stratified, seeded shuffle (every class keeps
its share in every split), and the 64 pixels are min-max scaled to [-0.5, 0.5] with statistics
of the training split only; values of the validation and test splits outside the training range
are clipped to it (a pixel that is constant in training maps to -0.5 there).

Files under ``artifacts/<profile>/data/``, the moth's layout, so
:func:`mothlib.study.data.load_splits` reads them unchanged:

* ``X_<split>.npy``: float32 (n, 64), scaled; ``X_<split>_raw.npy``: float64 pixel values;
* ``Y_<split>.npy`` and ``Y_<split>_raw.npy``: int64 class indices 0..9, shape (n, 1) (a
  column, like the moth's outputs, so the pruning stage's shape checks hold);
* ``rows_<split>.npy``: int64 row indices into ``load_digits()`` (the split itself);
* ``scaling.json`` (``inputs`` scaler; ``outputs`` is null: classes are not scaled) and
  ``metadata.json`` (sizes, class counts per split, columns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mothlib.study.data import SPLITS, Scaler, split_sizes
from mothlib.core.seeds import check_seed
from mothlib.study.store import atomic_write, atomic_write_json
from mothlib.study.settings import DigitsDataSettings

__all__ = [
    "N_CLASSES",
    "PIXEL_COLUMNS",
    "load_raw",
    "stratified_split",
    "compute_digits",
]

#: Classes of the task (the digits 0..9).
N_CLASSES = 10
#: Network inputs, in order: pixel (row, column) of the 8x8 image, row-major.
PIXEL_COLUMNS: tuple[str, ...] = tuple(f"px{r}{c}" for r in range(8) for c in range(8))
#: The scaled range of the inputs (the moth's).
LOW, HIGH = -0.5, 0.5


def load_raw() -> tuple[np.ndarray, np.ndarray]:
    """The whole data set: pixels float64 (1797, 64) and labels int64 (1797,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def stratified_split(labels: np.ndarray, split, seed: int) -> dict[str, np.ndarray]:
    """Row indices of each split: seeded, stratified by class, sizes from :func:`split_sizes`.

    Parameters
    ----------
    labels : int array (n,)
    split : three fractions summing to 1
    seed : int

    Returns
    -------
    dict
        ``{"train", "val", "test"}`` -> sorted int64 row indices; together a partition of
        ``range(n)``.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    n_train, n_val, n_test = split_sizes(len(labels), split)
    rows = np.arange(len(labels))
    # Two stratified cuts: test off the whole set, then validation off the rest.
    rest, test = train_test_split(rows, test_size=n_test, stratify=labels, random_state=int(seed))
    train, val = train_test_split(rest, test_size=n_val, stratify=labels[rest],
                                  random_state=int(seed))
    return {s: np.sort(np.asarray(r, dtype=np.int64)) for s, r in zip(SPLITS, (train, val, test))}


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_write(path, "wb") as handle:
        np.save(handle, array)


def compute_digits(data: DigitsDataSettings, seed: int, workdir: Path, *, progress: bool = False) -> None:
    """The digits ``data`` stage's work: split, scale, write ``workdir/data/`` (seconds).

    ``seed`` seeds the stratified shuffle. ``progress`` is accepted for symmetry with
    :func:`mothlib.study.data.compute_dataset` (the work is too short for a bar).
    """
    check_seed(seed, integer=True)
    X, y = load_raw()
    rows = stratified_split(y, data.split, seed)
    scaler = Scaler.fit(X[rows["train"]], PIXEL_COLUMNS)  # training statistics only
    out = Path(workdir) / "data"
    out.mkdir(parents=True, exist_ok=True)
    for s in SPLITS:
        Xs, ys = X[rows[s]], y[rows[s]][:, None]
        _save(out / f"X_{s}_raw.npy", Xs)
        _save(out / f"X_{s}.npy", np.clip(scaler.transform(Xs), LOW, HIGH).astype(np.float32))
        _save(out / f"Y_{s}.npy", ys)
        _save(out / f"Y_{s}_raw.npy", ys)
        _save(out / f"rows_{s}.npy", rows[s])
    atomic_write_json(out / "scaling.json", {"inputs": scaler.to_dict(), "outputs": None,
                                             "clip": [LOW, HIGH]})
    meta: dict[str, Any] = {
        "task": "digits",
        "source": "sklearn.datasets.load_digits",
        "n_requested": int(len(y)),
        "n_valid": int(len(y)),
        "n_failed": 0,
        "sizes": {s: int(len(rows[s])) for s in SPLITS},
        "class_counts": {s: np.bincount(y[rows[s]], minlength=N_CLASSES).tolist() for s in SPLITS},
        "n_classes": N_CLASSES,
        "input_columns": list(PIXEL_COLUMNS),
        "output_columns": ["digit"],
        "seed": int(seed),
        "split": list(data.split),
    }
    atomic_write_json(out / "metadata.json", meta)
