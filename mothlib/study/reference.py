"""The seed study's own results, shipped as package data, and its chain-count definition.

The two summaries in ``mothlib/reference_data/`` come from the z-score and loss tables the seed
authors published (repository oliviatessa/MothMotifs; study arXiv:2403.00974, networks from
Zahn et al. 2022). They are facts for comparison, never targets: z grows with network size, so
only a run at the seed's architecture (profile ``paper``) can be compared in magnitude; smaller
profiles compare in sign and trend.

The seed counted chains as connected (start, end) node pairs rather than as paths;
:func:`mothlib.motifs.counts.chain_counts` computes both from the same masks so that the effect can be
measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "SOURCE", "SEED_DEFECTIVE_MOTIFS", "seed_zscores", "seed_losses", "summarise_zscores",
    "compare_zscores", "compare_losses",
]

#: Where the shipped summaries come from (shown beside every comparison).
SOURCE = (
    "Seed study: Zahn, Daniel & Kutz, arXiv:2403.00974 (2024), z-score and loss tables from the "
    "authors' repository oliviatessa/MothMotifs (370 networks with z-scores, 400 with losses), "
    "summarised across networks."
)

#: Motifs whose seed values come from defective counts (not comparable with exact counts).
SEED_DEFECTIVE_MOTIFS: tuple[str, ...] = ("chain2", "chain3", "converging3")


def _read(name: str) -> pd.DataFrame:
    with resources.files("mothlib").joinpath("reference_data", name).open("r") as handle:
        return pd.read_csv(handle)


def seed_zscores() -> pd.DataFrame:
    """The seed's z-scores summarised across networks.

    Returns
    -------
    DataFrame
        Columns ``motif, fraction_pruned, n_networks, z_q25, z_median, z_q75, seed_defective``
        (the last marks motifs whose seed counts are defective).
    """
    df = _read("seed-zscores-summary.csv")
    df["seed_defective"] = df["motif"].isin(SEED_DEFECTIVE_MOTIFS)
    return df


def seed_losses() -> pd.DataFrame:
    """The seed's validation losses summarised over its 400 networks.

    Returns
    -------
    DataFrame
        Columns ``fraction_pruned, val_loss_median, val_loss_q25, val_loss_q75,
        share_under_1e-3``.
    """
    return _read("seed-losses-summary.csv")


def summarise_zscores(
    motifs: pd.DataFrame, keys: Sequence[str] = ("motif", "fraction_pruned")
) -> pd.DataFrame:
    """Our z-scores summarised like the seed's: quartiles across networks per group.

    Parameters
    ----------
    motifs : DataFrame
        A motif table (columns ``network, fraction_pruned, motif, z`` and ``keys``), already
        filtered to one strategy and one null model.
    keys : sequence of str
        Grouping columns (default: per motif and pruning fraction, as the seed summary).

    Returns
    -------
    DataFrame
        Columns ``*keys, n_networks, z_q25, z_median, z_q75``; non-finite z are left out, as in
        the seed summary.
    """
    finite = motifs[np.isfinite(motifs["z"].astype(float))]
    grouped = finite.groupby(list(keys))["z"]
    out = grouped.agg(
        n_networks="count",
        z_q25=lambda s: s.quantile(0.25),
        z_median="median",
        z_q75=lambda s: s.quantile(0.75),
    )
    return out.reset_index()


def compare_zscores(motifs: pd.DataFrame, profile: str) -> pd.DataFrame:
    """Our z summary and the seed's, stacked with a ``source`` column for plotting.

    Only fractions present in both are kept (rounded to 2 decimals).
    """
    ours = summarise_zscores(motifs).assign(source=f"mothlib ({profile})")
    seed = seed_zscores().drop(columns="seed_defective").assign(source="seed study")
    ours["fraction_pruned"] = ours["fraction_pruned"].round(2)
    both = pd.concat([ours, seed], ignore_index=True)
    common = set(ours["fraction_pruned"]) & set(seed["fraction_pruned"])
    both = both[both["fraction_pruned"].isin(common) & both["motif"].isin(ours["motif"])]
    both["seed_defective"] = both["motif"].isin(SEED_DEFECTIVE_MOTIFS)
    return both.reset_index(drop=True)


def compare_losses(pruning: pd.DataFrame, profile: str, threshold: float = 1e-3) -> pd.DataFrame:
    """Our validation losses per level summarised like the seed's, stacked with the seed's.

    Parameters
    ----------
    pruning : DataFrame
        The pruning table, filtered to one strategy.
    profile : str
        Label for our rows.
    threshold : float
        Loss threshold for the ``share_under`` column (the seed's is 1e-3).
    """
    grouped = pruning.groupby("fraction_pruned")["val_loss"]
    ours = grouped.agg(
        val_loss_median="median",
        val_loss_q25=lambda s: s.quantile(0.25),
        val_loss_q75=lambda s: s.quantile(0.75),
        share_under=lambda s: float((s <= threshold).mean()),
    ).reset_index()
    ours["source"] = f"mothlib ({profile})"
    seed = seed_losses().rename(columns={"share_under_1e-3": "share_under"})
    seed["source"] = "seed study"
    return pd.concat([ours, seed], ignore_index=True)


