"""Thread-safe reads of ``.npy`` and ``.npz`` files.

numpy parses each array's header with :func:`ast.literal_eval`, and CPython 3.11's AST
constructor keeps its recursion depth in interpreter-wide state: two threads parsing at once
can fail with ``SystemError: AST constructor recursion depth mismatch`` (CPython gh-106905).
mothlib reads artifacts from several threads (stages side by side, Dask client callbacks), so
every read goes through one lock here.
"""
from __future__ import annotations

import threading
from os import PathLike
from typing import Literal

import numpy as np

__all__ = ["HEADER_LOCK", "load_npz", "load_npy"]

HEADER_LOCK = threading.Lock()


def load_npz(path: str | PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read into memory.

    Parameters
    ----------
    path : path-like
        The archive.

    Returns
    -------
    dict of str to ndarray
        Arrays by name, in the archive's order.
    """
    with HEADER_LOCK, np.load(path) as npz:
        return {name: npz[name] for name in npz.files}


def load_npy(path: str | PathLike, mmap_mode: Literal["r", "r+", "c"] | None = None) -> np.ndarray:
    """One ``.npy`` array, read or memory-mapped (``mmap_mode`` as in :func:`numpy.load`)."""
    with HEADER_LOCK:
        return np.load(path, mmap_mode=mmap_mode)
