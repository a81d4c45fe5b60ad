"""How training length shapes motif z-scores: the ``training_length`` stage.

The same networks (same seeds, same data, same magnitude-pruning schedule) are trained in several
*arms*: with early stopping switched off, every round runs exactly ``factor x`` a base length
(``factor`` from the profile's ``length_factors``), and one reference arm follows the profile's own
early-stopped protocol. Each arm is an ordinary pruning run
(:func:`mothlib.study.pruning_stage.compute_pruning` on the runner it is given); every pruned level
of every network is then scored against each null model as a task
(:func:`mothlib.motifs.significance.motif_zscores`, with seeds that depend on the network, level
and null model but not on the arm, so equal arms give equal results), and the degree
heterogeneity of every layer block of the cleaned masks is recorded
(:func:`mothlib.motifs.degrees.degree_heterogeneity`).

Batches trained are read from the optimiser, not assumed: Adam's per-network step count is
cumulative over rounds and frozen while a network is stopped, so it is exactly the number of
batches each network has trained on.

Outputs (tidy tables; :func:`load_training_length` reads them):

* ``training_length.parquet``: one row per (arm, network, level, null model, motif), with z;
* ``training_length_levels.parquet``: one row per (arm, network, level): batches, losses;
* ``training_length_degrees.parquet``: one row per (arm, network, level, block, side): degree CV.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mothlib.core.npio import load_npz
from mothlib.study.checkpoint import Task, checkpointed_map, label_table
from mothlib.study.cluster import Runner
from mothlib.networks.ensemble import EarlyStopping
from mothlib.motifs.counts import remove_ineffectual
from mothlib.motifs.degrees import degree_heterogeneity
from mothlib.networks.pruning import PruningSettings, ShardState, unpack_masks
from mothlib.motifs.significance import COLUMNS as Z_FIELDS
from mothlib.motifs.significance import motif_zscores
from mothlib.study.motif_stage import task_seed
from mothlib.study.pruning_stage import compute_pruning
from mothlib.study.store import ArtifactStore, atomic_write

__all__ = [
    "REFERENCE",
    "STRATEGY",
    "NO_STOPPING",
    "TABLES",
    "arms",
    "arm_factor",
    "LengthPlan",
    "plan",
    "arm_name",
    "compute_training_length",
    "load_training_length",
    "mean_heterogeneity",
    "findings_by_arm",
    "verdicts",
    "gap_explained",
    "length_effect",
    "heterogeneity_correlation",
]

#: Name of the arm that follows the profile's own early-stopped protocol.
REFERENCE = "early-stopped"
#: The pruning strategy of every arm (the paper's).
STRATEGY = "magnitude"
#: Early stopping switched off: the rule is never checked (and could never fire: ratio 1e-6).
NO_STOPPING = EarlyStopping(check_every=10**12, min_batches=2, window=1, ratio=1e-6)

LEVEL_COLUMNS = ["arm", "factor", "network", "level", "fraction_pruned", "batches_trained",
                 "train_loss", "val_loss", "test_loss"]
Z_COLUMNS = ["arm", "factor", "network", "level", "fraction_pruned", "batches_trained", "val_loss",
             "null_model", "n_null", *Z_FIELDS]
DEGREE_COLUMNS = ["arm", "factor", "network", "level", "fraction_pruned", "block", "side",
                  "n_neurons", "cv"]
#: Table name -> file (the stage's outputs).
TABLES = {
    "z": "training_length.parquet",
    "levels": "training_length_levels.parquet",
    "degrees": "training_length_degrees.parquet",
}


# -- settings ------------------------------------------------------------------------------
def arm_name(factor: float) -> str:
    """The name of the arm trained ``factor`` times the base length, e.g. ``"2x"``."""
    return f"{float(factor):g}x"



def arms(settings: Any) -> dict[str, PruningSettings]:
    """Arm name -> its pruning settings: the reference arm first, then the factors from
    shortest to longest.

    ``settings`` is the stage's :class:`~mothlib.study.stages.StageSettings` (sections ``study``,
    ``training``, ``nulls``, ``length``, ``run``). The reference arm follows the profile's own
    protocol (its early stopping and batch caps; magnitude pruning, so the magnitude cap); each
    factor's arm trains ``round(factor * base)`` batches a round with early stopping off.
    """
    length, training = settings.length, settings.training
    common: dict[str, Any] = dict(
        n_networks=length.networks, hidden_sizes=length.hidden_sizes, schedule=length.schedule,
        strategies=(STRATEGY,), seed=settings.study.seed, init_std=training.init_std,
        learning_rate=training.learning_rate, batch_size=training.batch_size,
        device=settings.run.device, threads=settings.run.train_threads,
        networks_per_task=length.networks_per_task,
    )
    cap = training.max_batches_per_round
    out = {REFERENCE: PruningSettings(
        **common, stopping=training.stopping, max_batches_dense=training.max_batches_dense,
        max_batches_per_round=cap.get("magnitude") if isinstance(cap, dict) else cap,
    )}
    for f in sorted(float(f) for f in length.factors):
        out[arm_name(f)] = PruningSettings(
            **common, stopping=NO_STOPPING, max_batches_dense=int(round(f * length.base_dense)),
            max_batches_per_round=int(round(f * length.base_round)),
        )
    return out


@dataclass(frozen=True)
class LengthPlan:
    """Everything the stage's work reads from its settings, taken in one place (:func:`plan`)."""

    arms: dict[str, PruningSettings]
    null_models: tuple[str, ...]
    n_null: dict[str, int]
    seed: int
    chunk_size: int
    device: str


def plan(settings: Any) -> LengthPlan:
    """The stage's plan from its :class:`~mothlib.study.stages.StageSettings`."""
    return LengthPlan(arms=arms(settings), null_models=settings.nulls.null_models,
                      n_null=settings.length.n_nulls(), seed=settings.study.seed,
                      chunk_size=settings.nulls.null_chunk_size, device=settings.run.device)


def arm_factor(arm: str) -> float:
    """The factor of an arm called ``arm`` (NaN for the reference arm)."""
    return float("nan") if arm == REFERENCE else float(arm.removesuffix("x"))


# -- the stage's work ----------------------------------------------------------------------
def _record_batches(folder: Path, state: ShardState) -> None:
    """Write each network's Adam step count (its cumulative batches trained) after a round to
    ``folder``; the pruning loop calls it before it checkpoints the round, so a resumed run
    never lacks the count of a finished round."""
    path = folder / f"level{state.level:02d}-net{state.networks[0]:04d}.npz"
    with atomic_write(path) as handle:
        np.savez(handle, networks=np.asarray(state.networks),
                 batches=np.asarray(state.adam["adam_step"], dtype=np.int64))


def _batches(folder: Path) -> dict[tuple[int, int], int]:
    """(network, level) -> batches trained, from :func:`_record_batches`'s folder."""
    out = {}
    for path in sorted(folder.glob("level*-net*.npz")):
        level = int(path.name[5:7])
        npz = load_npz(path)
        for n, b in zip(npz["networks"], npz["batches"]):
            out[(int(n), level)] = int(b)
    return out


def _score(ws: list[np.ndarray], bs: list[np.ndarray], null: str, n_null: int,
           seed: np.random.SeedSequence, chunk_size: int, device: str) -> pd.DataFrame:
    """Task: one network's z-scores against one null model."""
    return motif_zscores(ws, bs, n_null=n_null, null_model=null, seed=seed, chunk_size=chunk_size, clean=True,
                         device=device, n_jobs=1)  # single-threaded Dask workers


def _slug(arm: str) -> str:
    return arm.replace(".", "p")


def compute_training_length(
    settings: Any,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    workdir: str | Path,
    scratch: str | Path,
    runner: Runner | None = None,
    *,
    progress: bool = True,
) -> None:
    """The ``training_length`` stage's work: train and prune every arm, score every pruned level.

    Each arm is one :func:`~mothlib.study.pruning_stage.compute_pruning` run (its own ``scratch``
    folder, so it resumes from its last finished round); the z-scores are (arm, network, level,
    null model) tasks, each checkpointed in ``scratch`` by the client as it arrives
    (:func:`~mothlib.study.checkpoint.checkpointed_map`). Writes the three tables of
    :data:`TABLES` under ``workdir``.

    Parameters
    ----------
    settings : StageSettings
        The stage's sections (``study``, ``training``, ``nulls``, ``length``, ``run``).
    splits : dict
        ``"train"``, ``"val"``, ``"test"`` -> ``(X (n, n_in), Y (n, n_out))``.
    workdir, scratch : path
    runner : Runner, optional
        Where the tasks run (default: this process).
    progress : bool
    """
    runner = runner or Runner()
    workdir, scratch = Path(workdir), Path(scratch)
    work = plan(settings)
    levels, degrees = [], []
    n_null = work.n_null

    def prune(arm: str) -> str:
        """One arm's pruning run (resumes from its checkpoints; skipped once written)."""
        folder = scratch / _slug(arm)
        if not (folder / "out" / "pruning.parquet").exists():
            compute_pruning(work.arms[arm], splits, folder / "out", folder / "rounds", runner, progress=False,
                            on_round=functools.partial(_record_batches, folder / "batches"))
        return arm

    def arms_done() -> Iterator[str]:
        """Arms as their pruning finishes: on a cluster all at once (each arm is a chain of
        rounds, so running them together keeps every worker busy), in process one by one."""
        if getattr(runner, "client", None) is None:
            yield from (prune(arm) for arm in work.arms)
            return
        pool = ThreadPoolExecutor(len(work.arms), thread_name_prefix="training-length")
        try:
            yield from (f.result() for f in as_completed([pool.submit(prune, arm) for arm in work.arms]))
        finally:
            # An interrupted client does not wait for the other arms (their rounds are checkpointed).
            pool.shutdown(wait=False, cancel_futures=True)

    def tasks() -> Iterator[Task]:
        """Each trained arm's z-score tasks (submitted while the other arms train); its levels
        and degree heterogeneity on the way."""
        bar_arms = tqdm(total=len(work.arms), desc="training length: arms trained", unit="arm", disable=not progress)
        for arm in arms_done():
            bar_arms.update(1)
            folder = scratch / _slug(arm)
            batches = _batches(folder / "batches")
            table = pd.read_parquet(folder / "out" / "pruning.parquet")
            table = table[table["strategy"] == STRATEGY].sort_values(["network", "level"])
            factor = arm_factor(arm)
            info: dict[tuple[int, int], tuple[float, int, float]] = {}
            for r in table.itertuples():
                key = (int(r.network), int(r.level))
                info[key] = (float(r.fraction_pruned), batches[key], float(r.val_loss))
                levels.append((arm, factor, *key, info[key][0], batches[key], float(r.train_loss),
                               float(r.val_loss), float(r.test_loss)))
            for level in sorted(int(x) for x in table["level"].unique()):
                if level == 0:
                    continue  # dense: every edge present, z undefined under both nulls
                path = folder / "out" / "masks" / STRATEGY / f"level_{int(level):02d}.npz"
                wm, bm = unpack_masks(load_npz(path))
                for k in range(work.arms[arm].n_networks):
                    fraction, n_batches, val = info[(k, level)]
                    ws = [np.asarray(w[k]) for w in wm]
                    bs = [np.asarray(b[k]) for b in bm]
                    clean, _, _ = remove_ineffectual(ws, bs)
                    deg = degree_heterogeneity(clean)
                    for name, value in reversed(list(dict(arm=arm, factor=factor, network=k, level=int(level),
                                                          fraction_pruned=fraction).items())):
                        deg.insert(0, name, value)
                    degrees.append(deg)
                    for null in work.null_models:
                        meta = dict(arm=arm, factor=factor, network=k, level=int(level),
                                    fraction_pruned=fraction, batches_trained=n_batches, val_loss=val,
                                    null_model=null, n_null=n_null[null])
                        # Seeds ignore the arm: equal arms give equal z, unequal ones share null streams.
                        seed = task_seed(work.seed, "training-length", k, int(level), null)
                        yield Task(f"z/{_slug(arm)}-net{k}-level{int(level)}-{null}.parquet", _score,
                                   (ws, bs, null, n_null[null], seed, work.chunk_size, work.device),
                                   key=f"length-{_slug(arm)}-net{k}-level{level}-{null}", meta=meta)
        bar_arms.close()

    parts = checkpointed_map(runner, tasks(), scratch, desc="training length: z-scores", progress=progress,
                             prepare=label_table)
    order = {arm: i for i, arm in enumerate(work.arms)}

    def tidy(df: pd.DataFrame, columns: list[str], keys: list[str]) -> pd.DataFrame:
        df = df[columns].assign(_arm=df["arm"].map(order))
        return df.sort_values(["_arm", *keys], kind="stable").drop(columns="_arm").reset_index(drop=True)

    z = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=Z_COLUMNS)
    tables = {
        "z": tidy(z, Z_COLUMNS, ["network", "level", "null_model"]),
        "levels": tidy(pd.DataFrame(levels, columns=LEVEL_COLUMNS), LEVEL_COLUMNS, ["network", "level"]),
        "degrees": tidy(pd.concat(degrees, ignore_index=True) if degrees
                        else pd.DataFrame(columns=DEGREE_COLUMNS), DEGREE_COLUMNS, ["network", "level"]),
    }
    for name, df in tables.items():
        with atomic_write(workdir / TABLES[name]) as handle:
            df.to_parquet(handle, index=False)


# -- reader --------------------------------------------------------------------------------
def load_training_length(store: ArtifactStore, table: str = "z") -> pd.DataFrame:
    """One of the ``training_length`` stage's tables.

    Parameters
    ----------
    store : ArtifactStore
    table : {"z", "levels", "degrees"}
        ``"z"``: one row per (arm, network, level, null model, motif) with ``batches_trained``,
        ``val_loss`` and the columns of :func:`~mothlib.motifs.significance.motif_zscores`;
        ``"levels"``: one row per (arm, network, level) with batches trained and the three
        losses (the dense level included); ``"degrees"``: one row per (arm, network, level,
        block, side) with the degree CV of the cleaned masks. ``factor`` is NaN for the
        reference arm (:data:`REFERENCE`).

    Raises
    ------
    ValueError
        For an unknown table.
    FileNotFoundError
        When the stage has not run for the store's profile.
    """
    if table not in TABLES:
        raise ValueError(f"table must be one of {list(TABLES)}, got {table!r}")
    store.require("training_length")
    return pd.read_parquet(store.path(TABLES[table]))


# -- analysis helpers (the chapter's numbers) -------------------------------------------------
def mean_heterogeneity(z: pd.DataFrame, degrees: pd.DataFrame) -> pd.DataFrame:
    """The z table with ``degree_cv``: the mean degree CV over the network's blocks and both
    sides at that level (one number per arm, network and level).

    Parameters
    ----------
    z, degrees : DataFrame
        The stage's ``"z"`` and ``"degrees"`` tables.
    """
    keys = ["arm", "network", "level"]
    cv = degrees.groupby(keys, as_index=False)["cv"].mean().rename(columns={"cv": "degree_cv"})
    return z.merge(cv, on=keys, how="left")


def length_effect(z: pd.DataFrame, level: int, short: str, long: str) -> pd.DataFrame:
    """Median z over networks in two arms at one level, per null model and motif.

    Returns
    -------
    DataFrame
        Columns ``null_model, motif, z_short, z_long, ratio`` (``z_long / z_short``; NaN unless
        both are positive). ``edges`` is left out.
    """
    rows = z[(z["level"] == level) & (z["motif"] != "edges") & z["arm"].isin([short, long])]
    med = rows.groupby(["null_model", "motif", "arm"])["z"].median().unstack("arm")
    med = med.reindex(columns=[short, long]).rename(columns={short: "z_short", long: "z_long"})
    ok = (med["z_short"] > 0) & (med["z_long"] > 0)
    med["ratio"] = (med["z_long"] / med["z_short"]).where(ok)
    med.columns.name = None
    return med.reset_index()


def heterogeneity_correlation(z: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation between z and ``degree_cv`` over every (arm, network, level), per
    null model and motif (``z`` from :func:`mean_heterogeneity`; non-finite z left out).

    Returns
    -------
    DataFrame
        Columns ``null_model, motif, rho, n``.
    """
    from scipy import stats

    out = []
    for (null, motif), g in z[z["motif"] != "edges"].groupby(["null_model", "motif"]):
        g = g[np.isfinite(g["z"].astype(float)) & np.isfinite(g["degree_cv"].astype(float))]
        rho = float(stats.spearmanr(g["degree_cv"], g["z"])[0]) if len(g) >= 3 else float("nan")
        out.append((null, motif, rho, len(g)))
    return pd.DataFrame(out, columns=["null_model", "motif", "rho", "n"])


def findings_by_arm(z: pd.DataFrame, levels: pd.DataFrame, loss_threshold: float,
                    null_model: str = "layer-edges") -> pd.DataFrame:
    """:func:`mothlib.study.findings.findings_table` on each arm's own tables.

    Each arm's levels become a pruning table (strategy ``magnitude``; selection by
    ``loss_threshold`` with :func:`mothlib.networks.pruning.mark_selected`) and its z rows a motif table.

    Returns
    -------
    DataFrame
        The findings tables stacked, with ``arm`` and ``factor`` columns first.
    """
    from mothlib.study.findings import findings_table
    from mothlib.networks.pruning import mark_selected

    out = []
    for arm in dict.fromkeys(levels["arm"]):
        prune = mark_selected(levels[levels["arm"] == arm].assign(strategy=STRATEGY), loss_threshold)
        motifs = z[z["arm"] == arm].assign(strategy=STRATEGY)
        table = findings_table(prune, motifs, strategy=STRATEGY, null_model=null_model)
        table.insert(0, "factor", float(levels.loc[levels["arm"] == arm, "factor"].iloc[0]))
        table.insert(0, "arm", arm)
        out.append(table)
    return pd.concat(out, ignore_index=True)


def verdicts(by_arm: pd.DataFrame) -> pd.DataFrame:
    """One row per finding: its verdict in every arm and whether it is the same in all.

    Parameters
    ----------
    by_arm : DataFrame
        From :func:`findings_by_arm`.

    Returns
    -------
    DataFrame
        Index ``finding``; one boolean column per arm (``holds``) and ``same_at_every_length``.
    """
    wide = by_arm.pivot(index="finding", columns="arm", values="holds")
    wide = wide[list(dict.fromkeys(by_arm["arm"]))].astype(bool)
    wide["same_at_every_length"] = wide.nunique(axis=1) == 1
    return wide


def gap_explained(
    z: pd.DataFrame,
    seed: pd.DataFrame,
    short: str,
    long: str,
    *,
    motifs: Sequence[str],
    null_model: str = "layer-edges",
    n_boot: int = 1000,
    rng_seed: int = 0,
) -> dict[str, Any]:
    """Share of the gap between our median z and the seed's that longer training closes.

    For each motif and fraction pruned present in both tables, with medians over networks, the
    share is ``(z_long - z_short) / (z_seed - z_short)`` (0: no change, 1: the whole gap, above
    1: overshoot, below 0: the wrong way). The summary is the median share over the cells; its
    uncertainty comes from resampling networks with replacement (the same resample in both arms:
    the arms train the same networks).

    Parameters
    ----------
    z : DataFrame
        The stage's ``"z"`` table.
    seed : DataFrame
        :func:`mothlib.study.reference.seed_zscores` (``motif, fraction_pruned, z_median``).
    short, long : str
        The two arms compared (e.g. the early-stopped reference and the longest arm).
    motifs : sequence of str
        Motifs to use (leave out those whose seed counts are defective).
    null_model : str
    n_boot : int
        Bootstrap resamples.
    rng_seed : int

    Returns
    -------
    dict
        ``share`` (median over cells), ``low`` and ``high`` (2.5 and 97.5 percentiles of the
        bootstrap), ``n_cells`` and ``cells`` (DataFrame per motif and fraction: ``z_short,
        z_long, z_seed, share``). NaN where no cell qualifies.
    """
    if short == long:
        raise ValueError(f"short and long must be different arms, got {short!r} twice")
    rows = z[(z["null_model"] == null_model) & z["motif"].isin(list(motifs))].copy()
    for arm in (short, long):
        if not (rows["arm"] == arm).any():
            raise ValueError(f"arm {arm!r} has no z rows for null model {null_model!r}")
    rows["fraction"] = rows["fraction_pruned"].round(2)
    seed_z = seed.assign(fraction=seed["fraction_pruned"].round(2)).set_index(["motif", "fraction"])["z_median"]
    networks = np.array(sorted(rows["network"].unique()))
    # z per (arm, motif, fraction) x network, as a dense array for fast resampling.
    wide = rows.pivot_table(index=["arm", "motif", "fraction"], columns="network", values="z",
                            aggfunc="first").reindex(columns=networks)
    short_z, long_z = wide.loc[short], wide.loc[long]
    cells = short_z.index.intersection(long_z.index).intersection(seed_z.index)
    a = short_z.loc[cells].to_numpy(dtype=float)
    b = long_z.loc[cells].to_numpy(dtype=float)
    s = seed_z.loc[cells].to_numpy(dtype=float)

    def shares(cols: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells are left out below
            za, zb = np.nanmedian(a[:, cols], axis=1), np.nanmedian(b[:, cols], axis=1)
            ok = np.isfinite(za) & np.isfinite(zb) & np.isfinite(s) & (s != za)
            out = np.full(len(s), np.nan)
            out[ok] = (zb[ok] - za[ok]) / (s[ok] - za[ok])
        return out

    everyone = np.arange(len(networks))
    point = shares(everyone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        table = pd.DataFrame({"z_short": np.nanmedian(a, axis=1) if len(a) else [],
                              "z_long": np.nanmedian(b, axis=1) if len(b) else [],
                              "z_seed": s, "share": point}, index=cells).reset_index()
    if not np.isfinite(point).any():
        return {"share": np.nan, "low": np.nan, "high": np.nan, "n_cells": 0, "cells": table}
    gen = np.random.default_rng(rng_seed)
    boot = []
    for _ in range(int(n_boot)):
        sample = shares(gen.integers(0, len(networks), len(networks)))
        if np.isfinite(sample).any():
            boot.append(np.nanmedian(sample))
    low, high = (np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan))
    return {"share": float(np.nanmedian(point)), "low": float(low), "high": float(high),
            "n_cells": int(np.isfinite(point).sum()), "cells": table}
