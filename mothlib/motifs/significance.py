"""Motif significance against a null model (z-scores, empirical p-values, significance profiles).

The study's ``motifs`` stage, which scores every pruned network this way, is
:mod:`mothlib.study.motif_stage`.

z = (N - mean) / std over the null sample (Milo et al. 2002; std with ddof=0); the empirical
two-sided p-value is ``(1 + #{k : |N_k - mean| >= |N - mean|}) / (n + 1)``; the significance
profile ``sp`` divides the finite z of one order (2nd: three motifs, 3rd: five) by their
Euclidean norm. ``edges`` is the only first-order motif, so its ``sp`` is always NaN (a unit
vector of one entry carries no information). Where the null std is 0 (e.g. a count that the null
model fixes, see :data:`mothlib.motifs.nulls.FIXED_COUNTS`) z and sp are NaN and ``z_note`` says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mothlib.core.masks import as_masks
from mothlib.motifs.counts import MOTIF_ORDER, MOTIFS, count_motifs, remove_ineffectual
from mothlib.motifs.nulls import FIXED_COUNTS, NULL_MODELS, _check_networks, sample_null
from mothlib.core.seeds import as_seed_sequence
from mothlib.core.validation import check_int

__all__ = ["COLUMNS", "null_moments", "zscore_table", "motif_zscores", "motif_zscores_many"]

COLUMNS = ["motif", "count", "null_mean", "null_std", "z", "p_value", "sp", "z_note"]


def null_moments(count: np.ndarray, null_counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Null mean, null std (ddof 0), z-score and two-sided p-value of each count.

    Parameters
    ----------
    count : int ndarray (k,)
        The real network's counts.
    null_counts : int ndarray (n, k)
        The counts of n null samples.

    Returns
    -------
    mean, std, z, p_value : float ndarrays (k,)
        ``z`` is NaN where it is undefined (fewer than 2 samples, or a null std of 0); all four
        are NaN without samples. ``p_value`` = (1 + #samples at least as far from the null mean)
        / (n + 1).
    """
    count = np.asarray(count)
    null_counts = np.asarray(null_counts)
    k, n = count.shape[0], null_counts.shape[0]
    if n == 0:
        nan = np.full(k, np.nan)
        return nan, nan.copy(), nan.copy(), nan.copy()
    x = null_counts.astype(np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    # Compare deviations in float64 (exact for the integer counts met here: < 2**53).
    extreme = (np.abs(x - mean) >= np.abs(count - mean)).sum(axis=0)
    p = (1.0 + extreme) / (n + 1.0)
    z = np.full(k, np.nan)
    ok = std > 0 if n >= 2 else np.zeros(k, bool)
    z[ok] = (count[ok] - mean[ok]) / std[ok]
    return mean, std, z, p


def zscore_table(real: dict[str, int], null_counts: np.ndarray, null_model: str | None = None) -> pd.DataFrame:
    """Significance of real counts against null counts.

    Parameters
    ----------
    real : dict
        Motif name -> count of the real network (every name of :data:`MOTIFS`).
    null_counts : int ndarray (n, len(MOTIFS))
        Counts of the n null samples, columns in :data:`MOTIFS` order.
    null_model : str, optional
        Name of the null model, used in ``z_note`` for counts it fixes.

    Returns
    -------
    pandas.DataFrame
        One row per motif, columns ``motif, count, null_mean, null_std, z, p_value, sp, z_note``.
    """
    null_counts = np.asarray(null_counts)
    if null_counts.ndim != 2 or null_counts.shape[1] != len(MOTIFS):
        raise ValueError(f"null_counts: expected shape (n, {len(MOTIFS)}), got {null_counts.shape}")
    n = null_counts.shape[0]
    count = np.array([real[m] for m in MOTIFS], dtype=np.int64)
    mean, std, z, p = null_moments(count, null_counts)
    notes = [""] * len(MOTIFS)
    fixed = FIXED_COUNTS.get(null_model, ()) if null_model else ()
    for i, m in enumerate(MOTIFS):
        if np.isfinite(z[i]):
            continue
        if n < 2:
            notes[i] = f"undefined: {n} null sample(s), at least 2 are needed"
        elif m in fixed:
            notes[i] = f"undefined: the {null_model} null fixes this count (null std 0)"
        else:
            notes[i] = f"undefined: all {n} null samples have the same count (null std 0)"
    sp = np.full(len(MOTIFS), np.nan)
    for order in (2, 3):
        idx = [i for i, m in enumerate(MOTIFS) if MOTIF_ORDER[m] == order and np.isfinite(z[i])]
        norm = float(np.sqrt(np.sum(z[idx] ** 2))) if idx else 0.0
        if norm > 0:
            sp[idx] = z[idx] / norm
    return pd.DataFrame(
        {
            "motif": list(MOTIFS),
            "count": count,
            "null_mean": mean,
            "null_std": std,
            "z": z,
            "p_value": p,
            "sp": sp,
            "z_note": notes,
        },
        columns=COLUMNS,
    )


def motif_zscores(
    weight_masks: Any,
    bias_masks: Any = None,
    *,
    n_null: int = 1000,
    null_model: str = "layer-edges",
    seed: int | np.random.SeedSequence | None = None,
    clean: bool = False,
    device: str = "cpu",
    chunk_size: int = 100,
    progress: bool = False,
    n_jobs: int | None = None,
    **sampler_options: Any,
) -> pd.DataFrame:
    """Motif counts of one network as given (``clean=True``: cleaned first) and their z-scores against a null model.

    The ``count`` column equals :func:`mothlib.motifs.counts.count_motifs` with the same ``clean``
    (both count the masks as given by default). The study's protocol is ``clean=True`` (its
    stages pass it): ghost and dead hidden neurons are removed first, which the "layer-edges"
    null requires (an unclean network is refused with a message saying so).

    Parameters
    ----------
    weight_masks, bias_masks
        One network, as for :func:`mothlib.motifs.counts.count_motifs` (lists of masks or a torch
        module).
    n_null : int
        Number of null networks.
    null_model : {"layer-edges", "degree-preserving"}
        Null model (see :mod:`mothlib.motifs.nulls`).
    seed : int, SeedSequence or None
        Seed of the null sample; results do not depend on ``chunk_size``, engine or device.
    clean : bool
        Remove ghost and dead hidden neurons first (:func:`mothlib.motifs.counts.remove_ineffectual`,
        the study's protocol). With ``clean=False`` (the default) the masks are used as given;
        the "layer-edges" null then requires them to be clean already.
    device : str or torch.device
        Where the null networks are drawn and counted (default the CPU). A CUDA device uses
        the torch engine (:mod:`mothlib.motifs.nulls_torch`: sampling and dense counting
        batched on the device); the CPU uses the numba samplers and sparse/dense counting
        (:func:`mothlib.motifs.counts.count_batch`), unless ``engine="torch"`` is passed;
        ``engine="cuda"`` runs the samplers' Markov chains on the GPU with numba
        (:mod:`mothlib.motifs._mcmc_cuda`) and counts as above on ``device``. Every engine and device
        draws the same null networks, so the result is the same.
    chunk_size : int
        Null networks drawn and counted at once (bounds memory; results do not depend on it).
    progress : bool
        Show a tqdm progress bar over chunks.
    n_jobs : int, optional
        Threads that draw and count chunks of null networks at once on the CPU (the numba
        kernels release the GIL); None: every core available to this process. The study's stages
        pass 1 (their Dask workers are single-threaded). Ignored by the torch and cuda engines,
        which run the chunks one after the other (on one GPU). Results do not depend on it.
    **sampler_options
        Passed to :func:`mothlib.motifs.nulls.sample_null` (``steps_per_token``, ``method``, ``engine``).

    Returns
    -------
    pandas.DataFrame
        One table, one row per motif of :data:`mothlib.motifs.counts.MOTIFS` (``edges``
        included), columns ``motif, count, null_mean, null_std, z, p_value, sp, z_note``.

    Raises
    ------
    ValueError
        For a batch of networks, an unknown null model or device, bad sizes, or (with the
        "layer-edges" null) a network with ghost or dead neurons and ``clean=False``.
    """
    dev, engine = _check_zscore_args(device, sampler_options.pop("engine", "auto"), null_model, n_null, chunk_size)
    jobs = _n_jobs(n_jobs)
    ws, bs = _zscore_network(weight_masks, bias_masks, clean, null_model)
    real = count_motifs(ws, bs)
    # One fixed seed sequence, so that every chunk draws from the same (seed, k) streams.
    seq = as_seed_sequence(seed)
    counts = np.empty((n_null, len(MOTIFS)), dtype=np.int64)
    starts = range(0, n_null, chunk_size)

    def chunk(start: int) -> None:
        size = min(chunk_size, n_null - start)
        nw, nb = _sample_null(ws, bs, n_null=size, null_model=null_model, seed=seq, start=start, engine=engine,
                              device=dev, **sampler_options)
        c = _count_null(nw, nb, dev)
        counts[start : start + size] = np.stack([c[m] for m in MOTIFS], axis=1)

    bar = tqdm(total=len(starts), desc=f"{null_model} nulls", disable=not progress, leave=False)
    if jobs == 1 or engine in ("torch", "cuda") or len(starts) < 2:
        for start in starts:
            chunk(start)
            bar.update()
    else:
        # Chunks in threads: sample k depends on (seed, null, k) only, so the table is the same
        # whatever thread draws which chunk. Torch (the dense counting of dense batches) runs on
        # one thread meanwhile: `jobs` threads in all, never more.
        from concurrent.futures import ThreadPoolExecutor

        from mothlib.motifs.counts import _one_thread

        with _one_thread("cpu"), ThreadPoolExecutor(min(jobs, len(starts))) as pool:
            for _ in pool.map(chunk, starts):
                bar.update()
    bar.close()
    return zscore_table(real, counts, null_model)


def _check_zscore_args(device: Any, engine: str, null_model: str, n_null: Any, chunk_size: Any) -> tuple[Any, str]:
    """The torch device and the engine ("auto" off the CPU: "torch") of the z-score functions."""
    dev = _zscore_device(device)
    if engine == "auto" and dev.type != "cpu":
        engine = "torch"
    if null_model not in NULL_MODELS:
        raise ValueError(f"null_model: unknown null model {null_model!r}; choose one of {list(NULL_MODELS)}")
    check_int(n_null, "n_null", min_value=0)
    check_int(chunk_size, "chunk_size", min_value=1)
    return dev, engine


def _zscore_network(weight_masks: Any, bias_masks: Any, clean: bool,
                    null_model: str) -> tuple[list[np.ndarray], Any]:
    """One network's masks without a batch axis, cleaned when ``clean``; biases None if none.

    An unclean network under the "layer-edges" null is refused here, naming ``clean=True``.
    """
    ws, bs, _ = as_masks(weight_masks, bias_masks)
    if ws[0].shape[0] != 1:
        raise ValueError(
            f"weight_masks: motif_zscores takes one network, got a batch of {ws[0].shape[0]}"
        )
    ws = [w[0] for w in ws]
    bs = [None if b is None else b[0] for b in bs]
    ws_clean, bs_clean, report = remove_ineffectual(ws, bs)
    if clean:
        ws, bs = ws_clean, ([None] * len(ws) if bs_clean is None else bs_clean)
    elif null_model == "layer-edges" and report[["ghost", "dead"]].to_numpy().any():
        raise ValueError(
            "weight_masks: the 'layer-edges' null is defined on a network without ghost or dead neurons, "
            f"and this one has {int(report['ghost'].sum())} ghost and {int(report['dead'].sum())} dead "
            "hidden neurons; pass clean=True to remove them first (remove_ineffectual, the study's protocol) or use "
            "null_model='degree-preserving', which takes the network as given"
        )
    return ws, (None if all(b is None for b in bs) else bs)


def motif_zscores_many(
    networks: Sequence[tuple[Any, Any]],
    *,
    n_null: int = 1000,
    null_model: str = "layer-edges",
    seeds: Sequence[int | np.random.SeedSequence | None],
    clean: bool = False,
    device: str = "cpu",
    chunk_size: int = 100,
    progress: bool = False,
    n_jobs: int | None = None,
    **sampler_options: Any,
) -> list[pd.DataFrame]:
    """:func:`motif_zscores` of several networks: one table per network, each identical to
    ``motif_zscores(*networks[i], seed=seeds[i], ...)`` with the same other arguments.

    With the torch and cuda engines (the torch engine is the default off the CPU) every chunk of
    null networks of all networks is drawn in one run of the Markov chains
    (:func:`mothlib.motifs.nulls.sample_nulls`), which shares each step's or launch's fixed cost among
    the networks; memory then grows with ``len(networks) * chunk_size``. The other engines gain
    nothing from that and score the networks one after the other.

    Parameters
    ----------
    networks : sequence of (weight_masks, bias_masks) pairs
        Each one network as for :func:`motif_zscores` (``bias_masks`` may be None).
    seeds : sequence of (int, SeedSequence or None)
        One null-sample seed per network.
    n_null, null_model, clean, device, chunk_size, progress, n_jobs, **sampler_options
        As for :func:`motif_zscores`, shared by every network (``n_jobs`` only matters for the
        CPU engines, which score one network at a time).

    Returns
    -------
    list of pandas.DataFrame
        Per network, the table of :func:`motif_zscores` (one row per motif).
    """
    networks, seeds = _check_networks(networks, seeds)
    engine = sampler_options.pop("engine", "auto")
    dev, engine = _check_zscore_args(device, engine, null_model, n_null, chunk_size)
    if engine not in ("torch", "cuda"):
        return [
            motif_zscores(w, b, n_null=n_null, null_model=null_model, seed=s, clean=clean, device=device,
                          chunk_size=chunk_size, progress=progress, n_jobs=n_jobs, engine=engine, **sampler_options)
            for (w, b), s in zip(networks, seeds)
        ]
    nets = []
    for k, (w, b) in enumerate(networks):
        try:
            nets.append(_zscore_network(w, b, clean, null_model))
        except ValueError as exc:
            raise ValueError(f"networks[{k}]: {exc}") from exc
    reals = [count_motifs(ws, bs) for ws, bs in nets]
    # One fixed seed sequence per network, as motif_zscores: every chunk draws its (seed, k) streams.
    seqs = [as_seed_sequence(s, f"seeds[{k}]") for k, s in enumerate(seeds)]
    counts = np.empty((len(nets), n_null, len(MOTIFS)), dtype=np.int64)
    for start in tqdm(range(0, n_null, chunk_size), desc=f"{null_model} nulls", disable=not progress, leave=False):
        size = min(chunk_size, n_null - start)
        drawn = _sample_nulls(nets, n_null=size, null_model=null_model, seeds=seqs, start=start,
                              engine=engine, device=dev, **sampler_options)
        for k, (nw, nb) in enumerate(drawn):
            c = _count_null(nw, nb, dev)
            counts[k, start : start + size] = np.stack([c[m] for m in MOTIFS], axis=1)
    return [zscore_table(real, c, null_model) for real, c in zip(reals, counts)]


def _n_jobs(n_jobs: int | None) -> int:
    """Threads of :func:`motif_zscores` (None: the cores this process may use)."""
    n_jobs = check_int(n_jobs, "n_jobs", min_value=1, allow_none=True)
    if n_jobs is None:
        import os

        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not on Linux
            return max(1, os.cpu_count() or 1)
    return n_jobs


def _zscore_device(device: Any) -> Any:
    """The torch device of :func:`motif_zscores`, as given (None is the CPU, as everywhere in
    the library: a device is never chosen behind the caller's back)."""
    import torch

    if device is None:
        device = "cpu"
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(f"device: cannot use torch device {device!r} ({exc})") from exc
    return dev


def _sample_null(ws: list[np.ndarray], bs: Any, *, engine: str, device: Any, **options: Any):
    """Null networks as numpy masks, or as torch tensors on ``device`` for the torch engine."""
    if engine != "torch":
        return sample_null(ws, bs, engine=engine, **options)
    from mothlib.motifs.nulls import _sample

    return _sample(ws, bs, engine=engine, device=device, **options)


def _sample_nulls(nets: list[tuple[list[np.ndarray], Any]], *, engine: str, device: Any, **options: Any):
    """:func:`_sample_null` of several networks, their chains in one run (torch and cuda engines)."""
    from mothlib.motifs.nulls import _sample_many

    return _sample_many(nets, engine=engine, device=device if engine == "torch" else None, **options)


def _count_null(nw: list[Any], nb: list[Any] | None, device: Any) -> dict[str, np.ndarray]:
    """Counts of a batch of null networks (already valid masks, numpy or torch) on ``device``."""
    from mothlib.motifs.counts import count_batch

    bs = [None] * len(nw) if nb is None else nb
    return count_batch(nw, bs, device)
