"""The ``data`` stage: sample wingstrokes, simulate them, split, scale and store the data set.

The samples are :mod:`mothlib.simulation.samples`'s: each draws an initial state and constant
controls uniformly from flight-model.md's ranges, integrates one window with
:func:`mothlib.simulation.simulator.simulate` and becomes one row of network inputs (10) and
outputs (7), in the study's order (:data:`~mothlib.simulation.samples.INPUT_COLUMNS`,
:data:`~mothlib.simulation.samples.OUTPUT_COLUMNS`). Rows are split 64/16/20 into
train/validation/test by position (the samples are i.i.d., so no shuffle is needed) and min-max
scaled to [-0.5, 0.5] with statistics of the training split only.

Generation runs in chunks of ``data_chunk_size`` samples with a progress bar; every finished
chunk is checkpointed in the stage's scratch folder, so an interrupted run picks up where it
stopped. Sample ``i`` is drawn from a random stream keyed by ``(seed, i // GENERATOR_BLOCK)``,
so the data set depends on the seed only, not on the chunk size, and the first ``n`` samples
of a larger data set are the data set of size ``n``. Samples that cannot be integrated to
tolerance are dropped and counted (``n_failed`` in ``data/metadata.json``).

Files under ``artifacts/<profile>/data/`` (plain ``.npy``/JSON, readable without mothlib):
``X_<split>.npy``/``Y_<split>.npy`` (float32, scaled), ``X_<split>_raw.npy``/
``Y_<split>_raw.npy`` (float64, physical units), ``scaling.json`` and ``metadata.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from mothlib.core.npio import load_npy, load_npz
from mothlib.study.cluster import Runner
from mothlib.study.settings import MothDataSettings
from mothlib.core.seeds import check_seed
from mothlib.simulation.samples import GENERATOR_BLOCK, INPUT_COLUMNS, OUTPUT_COLUMNS, simulate_rows
from mothlib.study.store import ArtifactStore, atomic_write, atomic_write_json

__all__ = [
    "SPLITS", "Scaler", "split_sizes", "compute_dataset", "load_splits",
    "load_scaler", "load_metadata",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Scaler:
    """Min-max scaling of columns to [-0.5, 0.5]: ``z = (x - min) / (max - min) - 0.5``.

    Attributes
    ----------
    columns : tuple of str
    min, max : numpy.ndarray, shape (n_columns,)
        Column statistics (of the training split). A constant column maps to -0.5.
    """

    columns: tuple[str, ...]
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, columns=None) -> Scaler:
        """Statistics of ``X`` (n, k); ``columns`` default to ``c0 .. c{k-1}``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0 or not np.all(np.isfinite(X)):
            raise ValueError(f"Scaler.fit needs a non-empty finite 2-D array, got {X.shape}")
        cols = tuple(columns) if columns is not None else tuple(f"c{i}" for i in range(X.shape[1]))
        return cls(cols, X.min(axis=0), X.max(axis=0))

    @property
    def _span(self) -> np.ndarray:
        span = np.asarray(self.max, dtype=np.float64) - np.asarray(self.min, dtype=np.float64)
        return np.where(span > 0, span, 1.0)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim < 1 or X.shape[-1] != len(self.columns):
            raise ValueError(
                f"expected {len(self.columns)} columns ({', '.join(self.columns)}), "
                f"got shape {X.shape}"
            )
        return X

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Physical units to scaled units; shape (..., n_columns), float64."""
        X = self._check(X).astype(np.float64, copy=False)
        return (X - self.min) / self._span - 0.5

    def inverse_transform(self, Z: np.ndarray) -> np.ndarray:
        """Scaled units back to physical units; shape (..., n_columns), float64."""
        Z = self._check(Z).astype(np.float64, copy=False)
        return (Z + 0.5) * self._span + self.min

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "min": np.asarray(self.min).tolist(),
                "max": np.asarray(self.max).tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        return cls(tuple(d["columns"]), np.asarray(d["min"], float), np.asarray(d["max"], float))


def split_sizes(n: int, split) -> tuple[int, int, int]:
    """Train/validation/test sizes of ``n`` rows for fractions ``split`` (summing to 1)."""
    fr = [float(f) for f in split]
    if len(fr) != 3 or min(fr) < 0 or not math.isclose(sum(fr), 1.0, abs_tol=1e-9):
        raise ValueError(f"split must be three non-negative fractions summing to 1, got {split}")
    n_train = int(round(fr[0] * n))
    n_val = int(round(fr[1] * n))
    return n_train, n_val, n - n_train - n_val


def _open_npy(path: Path, dtype, shape: tuple[int, int]) -> np.ndarray:
    """A writable ``.npy`` memmap (or, for zero rows, an empty array already saved)."""
    if shape[0] == 0:  # mmap cannot map an empty payload
        np.save(path, np.empty(shape, dtype=dtype))
        return np.empty(shape, dtype=dtype)
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def _simulate_chunks(
    data: MothDataSettings, seed: int, scratch: Path, runner: Runner, progress: bool
) -> list[Path]:
    """Simulate every chunk not yet in ``scratch`` as a task; return the chunk files in order."""
    n, chunk = data.n_samples, data.data_chunk_size
    bounds = [(lo, min(n, lo + chunk)) for lo in range(0, n, chunk)]
    files = [scratch / f"rows_{lo:012d}_{hi:012d}.npz" for lo, hi in bounds]
    todo = {
        runner.submit(simulate_rows, lo, hi, seed=seed, duration=data.duration,
                      scale=data.scale, key=f"data-rows-{seed}-{lo}-{hi}"): (hi - lo, f)
        for (lo, hi), f in zip(bounds, files) if not f.exists()
    }
    with tqdm(total=n, initial=n - sum(m for m, _ in todo.values()), unit="sample",
              desc="data: simulating wingstrokes", disable=not progress) as bar:
        for future in runner.as_completed(todo):
            X, Y = runner.result(future)
            m, path = todo[future]
            with atomic_write(path) as handle:  # a finished chunk survives a killed client
                np.savez(handle, X=X, Y=Y)
            bar.update(m)
    return files


def _assemble(files: list[Path], out: Path, data: MothDataSettings) -> dict[str, Any]:
    """Drop failed rows, split, scale; write the stage's files into ``out``; return metadata."""
    ok_counts, failed_rows = [], []
    offset = 0
    for path in files:
        z = load_npz(path)
        ok = np.isfinite(z["X"]).all(axis=1) & np.isfinite(z["Y"]).all(axis=1)
        ok_counts.append(int(ok.sum()))
        failed_rows.extend((offset + np.nonzero(~ok)[0]).tolist())
        offset += ok.size
    n_valid = sum(ok_counts)
    sizes = dict(zip(SPLITS, split_sizes(n_valid, data.split)))
    if sizes["train"] == 0:
        raise RuntimeError("no training samples: every sample failed to integrate")
    starts = dict(zip(SPLITS, np.cumsum([0, sizes["train"], sizes["val"]]).tolist()))

    # Pass 1: raw rows into per-split memmaps, training min/max on the way.
    raw = {
        (s, k): _open_npy(out / f"{k}_{s}_raw.npy", np.float64, (sizes[s], w))
        for s in SPLITS for k, w in (("X", len(INPUT_COLUMNS)), ("Y", len(OUTPUT_COLUMNS)))
    }
    lo_hi: dict[str, list[Any]] = {"X": [np.inf, -np.inf], "Y": [np.inf, -np.inf]}  # arrays once a chunk is seen
    pos = 0  # row index among valid rows
    for path in files:
        z = load_npz(path)
        X, Y = z["X"], z["Y"]
        ok = np.isfinite(X).all(axis=1) & np.isfinite(Y).all(axis=1)
        arrays = {"X": X[ok], "Y": Y[ok]}
        m = len(arrays["X"])
        for s in SPLITS:
            a, b = max(pos, starts[s]), min(pos + m, starts[s] + sizes[s])
            if a >= b:
                continue
            for k, arr in arrays.items():
                part = arr[a - pos : b - pos]
                raw[(s, k)][a - starts[s] : b - starts[s]] = part
                if s == "train":
                    lo_hi[k][0] = np.minimum(lo_hi[k][0], part.min(axis=0))
                    lo_hi[k][1] = np.maximum(lo_hi[k][1], part.max(axis=0))
        pos += m
    scalers = {
        "X": Scaler(INPUT_COLUMNS, *lo_hi["X"]),
        "Y": Scaler(OUTPUT_COLUMNS, *lo_hi["Y"]),
    }
    # Pass 2: scaled float32 copies, a bounded number of rows at a time.
    step = max(1, data.data_chunk_size)
    for (s, k), src in raw.items():
        if isinstance(src, np.memmap):
            src.flush()
        dst = _open_npy(out / f"{k}_{s}.npy", np.float32, src.shape)
        for a in range(0, len(src), step):
            dst[a : a + step] = scalers[k].transform(src[a : a + step])
        if isinstance(dst, np.memmap):
            dst.flush()
        del dst
    del raw
    atomic_write_json(out / "scaling.json", {"inputs": scalers["X"].to_dict(),
                                             "outputs": scalers["Y"].to_dict()})
    return {
        "n_requested": data.n_samples,
        "n_valid": n_valid,
        "n_failed": len(failed_rows),
        "failed_rows": failed_rows[:1000],
        "sizes": sizes,
        "input_columns": list(INPUT_COLUMNS),
        "output_columns": list(OUTPUT_COLUMNS),
        "generator_block": GENERATOR_BLOCK,
    }


def compute_dataset(
    data: MothDataSettings, seed: int, workdir: Path, scratch: Path, runner: Runner | None = None,
    *, progress: bool = True,
) -> None:
    """The moth's ``data`` stage work: simulate (as tasks), split, scale; write ``workdir/data/``.

    Sample ``i`` depends only on ``(seed, i)``; ``data.data_chunk_size`` only sets the tasks.
    Finished chunks are checkpointed in ``scratch``, so an interrupted run resumes; the stage
    itself is declared in :mod:`mothlib.study.stages` (run it with ``mothlib.study.stages.run``).
    """
    check_seed(seed, integer=True)
    runner = runner or Runner()
    out = workdir / "data"
    out.mkdir(parents=True, exist_ok=True)
    files = _simulate_chunks(data, seed, scratch, runner, progress)
    meta = _assemble(files, workdir / "data", data)
    meta.update(seed=seed, scale=data.scale, duration=data.duration, split=list(data.split))
    atomic_write_json(out / "metadata.json", meta)


def _data_dir(store: ArtifactStore) -> Path:
    store.require("data")  # FileNotFoundError naming the stage when it has not run
    return store.path("data")


def load_splits(
    store: ArtifactStore, *, scaled: bool = True, mmap: bool = False
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The data set by split: ``{"train": (X, Y), "val": (X, Y), "test": (X, Y)}``.

    Parameters
    ----------
    store : ArtifactStore
        Where the ``data`` stage ran.
    scaled : bool
        True: float32 arrays scaled to [-0.5, 0.5] (the networks' view). False: float64 in
        physical units.
    mmap : bool
        Memory-map the files read-only instead of reading them into memory.

    Returns
    -------
    dict
        X of shape (n, 10) in :data:`~mothlib.simulation.samples.INPUT_COLUMNS` order, Y of
        shape (n, 7) in :data:`~mothlib.simulation.samples.OUTPUT_COLUMNS` order.

    Raises
    ------
    FileNotFoundError
        When the ``data`` stage has not run for this profile.
    """
    folder = _data_dir(store)
    suffix = "" if scaled else "_raw"
    mode: Literal["r"] | None = "r" if mmap else None

    def one(k: str, s: str) -> np.ndarray:
        return load_npy(folder / f"{k}_{s}{suffix}.npy", mmap_mode=mode)

    return {
        s: (one("X", s), one("Y", s))
        for s in SPLITS
    }


def load_scaler(store: ArtifactStore) -> dict[str, Scaler]:
    """The scalers of the stored data set: ``{"inputs": Scaler, "outputs": Scaler}``.

    ``load_scaler(store)["outputs"].inverse_transform(y_scaled)`` gives physical units.
    """
    with open(_data_dir(store) / "scaling.json") as handle:
        d = json.load(handle)
    return {"inputs": Scaler.from_dict(d["inputs"]), "outputs": Scaler.from_dict(d["outputs"])}


def load_metadata(store: ArtifactStore) -> dict[str, Any]:
    """The stage's metadata: requested, valid and failed sample counts, split sizes, columns."""
    with open(_data_dir(store) / "metadata.json") as handle:
        return json.load(handle)
