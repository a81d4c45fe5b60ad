"""Motif significance against a null model (z-scores, empirical p-values, significance profiles),
and the study's ``motifs`` stage.

z = (N - mean) / std over the null sample (Milo et al. 2002; std with ddof=0); the empirical
two-sided p-value is (1 + #{k : |N_k - mean| >= |N - mean|}) / (n + 1); the significance
profile ``sp`` divides the finite z of one order (2nd: three motifs, 3rd: five) by their
Euclidean norm. ``edges`` is the only first-order motif, so its ``sp`` is always NaN (a unit
vector of one entry carries no information). Where the null std is 0 (e.g. a count that the null
model fixes, see :data:`mothlib.nulls.FIXED_COUNTS`) z and sp are NaN and ``z_note`` says why.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mothlib._masks import as_masks
from mothlib.motifs import MOTIF_ORDER, MOTIFS, count_motifs, remove_ineffectual
from mothlib.nulls import FIXED_COUNTS, NULL_MODELS, sample_null

COLUMNS = ["motif", "count", "null_mean", "null_std", "z", "p_value", "sp", "z_note"]
STAGE_COLUMNS = ["network", "level", "fraction_pruned", "strategy", "null_model", "n_null"] + COLUMNS


def zscore_table(real: dict[str, int], null_counts: np.ndarray, null: str | None = None) -> pd.DataFrame:
    """Significance of real counts against null counts.

    Parameters
    ----------
    real : dict
        Motif name -> count of the real network (every name of :data:`MOTIFS`).
    null_counts : int ndarray (n, len(MOTIFS))
        Counts of the n null samples, columns in :data:`MOTIFS` order.
    null : str, optional
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
    if n == 0:
        mean = np.full(len(MOTIFS), np.nan)
        std = np.full(len(MOTIFS), np.nan)
        p = np.full(len(MOTIFS), np.nan)
    else:
        x = null_counts.astype(np.float64)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        # Compare deviations in float64 (exact for the integer counts met here: < 2**53).
        dev_real = np.abs(count - mean)
        extreme = (np.abs(x - mean) >= dev_real).sum(axis=0)
        p = (1.0 + extreme) / (n + 1.0)
    z = np.full(len(MOTIFS), np.nan)
    notes = [""] * len(MOTIFS)
    fixed = FIXED_COUNTS.get(null, ()) if null else ()
    for i, m in enumerate(MOTIFS):
        if n < 2:
            notes[i] = f"undefined: {n} null sample(s), at least 2 are needed"
        elif std[i] > 0:
            z[i] = (count[i] - mean[i]) / std[i]
        elif m in fixed:
            notes[i] = f"undefined: the {null} null fixes this count (null std 0)"
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
    null: str = "layer-edges",
    seed: int | np.random.SeedSequence | None = None,
    clean: bool = True,
    device: str | None = None,
    chunk_size: int = 100,
    progress: bool = False,
    **sampler_options: Any,
) -> pd.DataFrame:
    """Motif counts of one network and their significance against a null model.

    Parameters
    ----------
    weight_masks, bias_masks
        One network, as for :func:`mothlib.motifs.count_motifs` (lists of masks or a torch
        module).
    n_null : int
        Number of null networks.
    null : {"layer-edges", "degree-preserving"}
        Null model (see :mod:`mothlib.nulls`).
    seed : int, SeedSequence or None
        Seed of the null sample; results do not depend on ``chunk_size``, engine or device.
    clean : bool
        Remove ghost and dead neurons first (the study's protocol). With ``clean=False`` the
        masks are used as given; the "layer-edges" null then requires them to be clean already.
    device : str or torch.device, optional
        Where the null networks are drawn and counted. A CUDA device (or None when CUDA is
        available) uses the torch engine (:mod:`mothlib.nulls_torch`: sampling and dense counting
        batched on the device); the CPU uses the numba samplers and sparse/dense counting
        (:func:`mothlib.motifs.count_batch`), unless ``engine="torch"`` is passed. Every engine
        and device draws the same null networks, so the result is the same.
    chunk_size : int
        Null networks drawn and counted at once (bounds memory; results do not depend on it).
    progress : bool
        Show a tqdm progress bar over chunks.
    **sampler_options
        Passed to :func:`mothlib.nulls.sample_null` (``steps_per_token``, ``method``, ``engine``).

    Returns
    -------
    pandas.DataFrame
        One row per motif of :data:`mothlib.motifs.MOTIFS` (``edges`` included), columns
        ``motif, count, null_mean, null_std, z, p_value, sp, z_note``.
    """
    dev = _zscore_device(device)
    engine = sampler_options.pop("engine", "auto")
    if engine == "auto" and dev.type != "cpu":
        engine = "torch"
    if null not in NULL_MODELS:
        raise ValueError(f"null: unknown null model {null!r}; choose one of {list(NULL_MODELS)}")
    if isinstance(n_null, bool) or not isinstance(n_null, (int, np.integer)) or n_null < 0:
        raise ValueError(f"n_null: must be a non-negative integer, got {n_null!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    ws, bs, _ = as_masks(weight_masks, bias_masks)
    if ws[0].shape[0] != 1:
        raise ValueError(
            f"weight_masks: motif_zscores takes one network, got a batch of {ws[0].shape[0]}"
        )
    ws = [w[0] for w in ws]
    bs = [None if b is None else b[0] for b in bs]
    if clean:
        ws, bs_clean, _ = remove_ineffectual(ws, bs)
        bs = [None] * len(ws) if bs_clean is None else bs_clean
    if all(b is None for b in bs):
        bs = None
    real = count_motifs(ws, bs)
    # One fixed seed sequence, so that every chunk draws from the same (seed, k) streams.
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    counts = np.empty((n_null, len(MOTIFS)), dtype=np.int64)
    starts = range(0, n_null, chunk_size)
    for start in tqdm(starts, desc=f"{null} nulls", disable=not progress, leave=False):
        size = min(chunk_size, n_null - start)
        nw, nb = _sample_null(ws, bs, n=size, null=null, seed=seq, start=start, engine=engine,
                              device=dev, **sampler_options)
        c = _count_null(nw, nb, dev)
        counts[start : start + size] = np.stack([c[m] for m in MOTIFS], axis=1)
    return zscore_table(real, counts, null)


def _zscore_device(device: Any) -> Any:
    """The torch device of :func:`motif_zscores` (None: CUDA when available, else the CPU)."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
    from mothlib.nulls import STEPS_PER_TOKEN, _sample

    options.setdefault("steps_per_token", STEPS_PER_TOKEN)
    options.setdefault("method", "auto")
    return _sample(ws, bs, engine=engine, device=device, **options)


def _count_null(nw: list[Any], nb: list[Any] | None, device: Any) -> dict[str, np.ndarray]:
    """Counts of a batch of null networks (already valid masks, numpy or torch) on ``device``."""
    from mothlib.motifs import count_batch

    bs = [None] * len(nw) if nb is None else nb
    return count_batch(nw, bs, device)


# ------------------------------------------------------------------------------- the stage
def _load_masks(store: Any, strategy: str, level: int):
    """The pruning stage's masks (a seam for tests that fake the pruning stage)."""
    try:
        from mothlib.pruning import load_masks
    except ImportError as exc:  # pragma: no cover - the pruning module ships with mothlib
        raise FileNotFoundError("mothlib.pruning is not available to read the pruning masks") from exc
    return load_masks(store, strategy, level)


def task_seed(seed: int, strategy: str, network: int, level: int, null: str) -> np.random.SeedSequence:
    """The null-sample seed of one (strategy, network, level, null model), from the profile seed."""
    return np.random.SeedSequence(
        [int(seed), zlib.crc32(strategy.encode()), int(network), int(level), NULL_MODELS.index(null)]
    )


def build_motif_table(profile: dict[str, Any], store: Any = None, *, progress: bool = True) -> dict[str, Any]:
    """Stage ``motifs``: z-scores of every accurate pruning level of every network.

    For each strategy of the pruning table, each network with a selected level, each level
    0 .. selected and each null model of ``profile["null_models"]`` (``n_null`` samples for
    "layer-edges", ``n_null_degree`` for "degree-preserving"), runs :func:`motif_zscores` on the
    cleaned masks and writes ``motifs.parquet`` (columns :data:`STAGE_COLUMNS`). Finished
    (strategy, network, level, null) results are checkpointed, so an interrupted run resumes.

    Returns
    -------
    dict
        The stage manifest.
    """
    from mothlib.profiles import stage_params
    from mothlib.store import ArtifactStore, atomic_write

    if store is None:
        store = ArtifactStore(profile["profile"])
    params = stage_params(profile, "motifs")
    unknown = sorted(set(profile["null_models"]) - set(NULL_MODELS))
    if unknown:
        raise ValueError(f"null_models: unknown null model(s) {unknown}; choose from {list(NULL_MODELS)}")
    n_for = {"layer-edges": int(profile["n_null"]), "degree-preserving": int(profile["n_null_degree"])}
    chunk = int(profile.get("null_chunk_size", 100))

    def compute(workdir: Path, scratch: Path) -> None:
        store.require("pruning")
        table = pd.read_parquet(store.path("pruning.parquet"))
        frac = {
            (r.strategy, int(r.network), int(r.level)): float(r.fraction_pruned)
            for r in table.itertuples()
        }
        # Networks are the batch entries of load_masks, in the order of their ids.
        position = {int(n): i for i, n in enumerate(sorted(table["network"].unique()))}
        chosen = table[table["selected"].astype(bool)]
        tasks = []  # (strategy, level, network, null)
        for strategy in sorted(chosen["strategy"].unique()):
            sel = chosen[chosen["strategy"] == strategy]
            top = dict(zip(sel["network"].astype(int), sel["level"].astype(int)))
            for level in range(max(top.values()) + 1):
                for network in sorted(k for k, v in top.items() if v >= level):
                    for null in profile["null_models"]:
                        tasks.append((strategy, level, network, null))
        parts = []
        cache: dict[tuple[str, int], Any] = {}
        for strategy, level, network, null in tqdm(tasks, desc="motif z-scores", disable=not progress):
            ckpt = scratch / f"{strategy}-net{network}-level{level}-{null}.parquet"
            if ckpt.exists():
                parts.append(pd.read_parquet(ckpt))
                continue
            if (strategy, level) not in cache:
                cache.clear()  # masks of one level at a time
                cache[(strategy, level)] = _load_masks(store, strategy, level)
            wm, bm = cache[(strategy, level)]
            k = position[network]
            ws = [np.asarray(w[k]) for w in wm]
            bs = None if bm is None else [None if b is None else np.asarray(b[k]) for b in bm]
            df = motif_zscores(
                ws, bs, n_null=n_for[null], null=null, chunk_size=chunk,
                seed=task_seed(profile["seed"], strategy, network, level, null),
            )
            df.insert(0, "n_null", n_for[null])
            df.insert(0, "null_model", null)
            df.insert(0, "strategy", strategy)
            df.insert(0, "fraction_pruned", frac.get((strategy, network, level), np.nan))
            df.insert(0, "level", level)
            df.insert(0, "network", network)
            with atomic_write(ckpt) as handle:
                df.to_parquet(handle)
            parts.append(df)
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STAGE_COLUMNS)
        out = out[STAGE_COLUMNS].sort_values(["strategy", "network", "level", "null_model"], kind="stable")
        out.reset_index(drop=True).to_parquet(workdir / "motifs.parquet")

    return store.run_stage("motifs", params, ["motifs.parquet"], compute, inputs=["pruning"])
