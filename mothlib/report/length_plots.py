"""Altair charts of the training-length experiment (chapter "What the z-scores measure").

Each builder takes the ``training_length`` stage's tables
(:func:`mothlib.study.training_length.load_training_length`) and returns a chart; they only
aggregate for display. Empty tables give a placeholder chart, as in :mod:`mothlib.report.plots`.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from mothlib.report.plots import (
    COLUMN_WIDTH, FACET_COLUMNS, _motif_sort, _placeholder_when_empty, _require, legend, panel_width,
)

__all__ = [
    "length_difference",
    "z_length_chart",
    "z_heterogeneity_chart",
    "length_loss_chart",
    "verdict_chart",
    "gap_chart",
]

_WIDTH = panel_width()
_HEIGHT = 120


def _finite(df: pd.DataFrame, column: str) -> pd.DataFrame:
    return df[np.isfinite(df[column].astype(float))]


def length_difference(z: pd.DataFrame, level: int, short: str, long: str, *, n_boot: int = 1000,
                      seed: int = 0, clear: float = 2.0) -> pd.DataFrame:
    """How z at one pruning level moves between two arms: the median over networks of each
    network's own change ``z_long - z_short``, with a 95 % bootstrap interval over networks.

    The arms train the same networks (same seeds), so the change is paired by network. A ratio
    of medians is given only where it means something: where the short arm's median z is
    clearly away from zero (``|z| >= clear`` and its own bootstrap interval excludes zero).

    Parameters
    ----------
    z : DataFrame
        The stage's ``"z"`` table (``arm, network, level, null_model, motif, z``).
    level : int
        The pruning level (the same sparsity in every arm).
    short, long : str
        The two arms.
    n_boot : int
        Bootstrap resamples of networks.
    seed : int
        Seeds the resampling.
    clear : float
        The least ``|median z|`` of the short arm for which a ratio is reported.

    Returns
    -------
    DataFrame
        One row per null model and motif: ``null_model, motif, n_networks, z_short, z_long,
        change, change_low, change_high, ratio`` (``ratio`` NaN where not meaningful; all NaN
        for a motif with no network finite in both arms).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rows = z[(z["level"] == level) & (z["motif"] != "edges") & z["arm"].isin([short, long])]
    rows = _finite(rows, "z")
    wide = rows.pivot_table(index=["null_model", "motif", "network"], columns="arm", values="z",
                            aggfunc="first")
    wide = wide.reindex(columns=[short, long]).dropna()
    rng = np.random.default_rng(seed)
    out = []
    for (null_model, motif), g in wide.groupby(level=["null_model", "motif"], sort=False):
        a = g[short].to_numpy(float)
        b = g[long].to_numpy(float)
        n = len(a)
        picks = rng.integers(0, n, size=(n_boot, n))
        change = np.median(b - a)
        boot_change = np.median((b - a)[picks], axis=1)
        boot_short = np.median(a[picks], axis=1)
        lo, hi = np.quantile(boot_change, [0.025, 0.975])
        s_lo, s_hi = np.quantile(boot_short, [0.025, 0.975])
        z_short, z_long = float(np.median(a)), float(np.median(b))
        clear_of_zero = abs(z_short) >= clear and (s_lo > 0 or s_hi < 0)
        out.append({"null_model": null_model, "motif": motif, "n_networks": n,
                    "z_short": z_short, "z_long": z_long, "change": float(change),
                    "change_low": float(lo), "change_high": float(hi),
                    "ratio": z_long / z_short if clear_of_zero else float("nan")})
    columns = ["null_model", "motif", "n_networks", "z_short", "z_long", "change", "change_low",
               "change_high", "ratio"]
    return pd.DataFrame(out, columns=columns)


@_placeholder_when_empty
def z_length_chart(z: pd.DataFrame, level: int) -> alt.FacetChart:
    """z against batches trained at one pruning level: median over networks with the
    interquartile range, one line per null model, a panel per motif (log x axis).

    Parameters
    ----------
    z : DataFrame
        The stage's ``"z"`` table.
    level : int
        The pruning level (the same sparsity in every arm).
    """
    _require(z, ["arm", "level", "motif", "null_model", "z", "batches_trained"], "z_length_chart")
    rows = _finite(z[(z["level"] == level) & (z["motif"] != "edges")], "z")
    _require(rows, ["z"], "z_length_chart")
    summary = rows.groupby(["arm", "null_model", "motif"]).agg(
        batches=("batches_trained", "median"), z_median=("z", "median"),
        z_q25=("z", lambda s: s.quantile(0.25)), z_q75=("z", lambda s: s.quantile(0.75)),
        n_networks=("z", "count"),
    ).reset_index()
    base = alt.Chart().encode(
        x=alt.X("batches:Q", scale=alt.Scale(type="log"), title="batches trained (median)"),
        color=alt.Color("null_model:N", title="null model", legend=legend()),
    )
    lines = base.mark_line().encode(y=alt.Y("z_median:Q", title="z-score"), detail="null_model:N")
    rules = base.mark_rule().encode(y="z_q25:Q", y2="z_q75:Q")
    points = base.mark_point(filled=True).encode(
        y="z_median:Q", shape=alt.Shape("arm:N", title="arm", legend=legend()),
        tooltip=["arm:N", "null_model:N", "motif:N", "batches:Q", "z_median:Q", "n_networks:Q"],
    )
    return (
        alt.layer(rules, lines, points, data=summary)
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(summary["motif"]), title=None),
               columns=FACET_COLUMNS)
        .resolve_scale(y="independent")
    )


@_placeholder_when_empty
def z_heterogeneity_chart(z: pd.DataFrame, null_model: str = "layer-edges") -> alt.FacetChart:
    """z against the mean degree CV of the cleaned masks, one point per (arm, network, level).

    Parameters
    ----------
    z : DataFrame
        The ``"z"`` table with ``degree_cv`` (:func:`mothlib.study.training_length.mean_heterogeneity`).
    null_model : str
    """
    _require(z, ["arm", "network", "level", "motif", "null_model", "z", "degree_cv"], "z_heterogeneity_chart")
    rows = _finite(z[(z["null_model"] == null_model) & (z["motif"] != "edges")], "z")
    _require(rows, ["z"], "z_heterogeneity_chart")
    rows = rows[["arm", "network", "level", "fraction_pruned", "motif", "z", "degree_cv"]]
    return (
        alt.Chart(rows)
        .mark_circle(size=25, opacity=0.7)
        .encode(
            x=alt.X("degree_cv:Q", title="mean degree CV", scale=alt.Scale(zero=False)),
            y=alt.Y("z:Q", title=f"z ({null_model} null)"),
            color=alt.Color("arm:N", title="arm", legend=legend()),
            tooltip=["arm:N", "network:Q", "fraction_pruned:Q", "z:Q", "degree_cv:Q"],
        )
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(rows["motif"]), title=None),
               columns=FACET_COLUMNS)
        .resolve_scale(y="independent")
    )


@_placeholder_when_empty
def length_loss_chart(levels: pd.DataFrame) -> alt.Chart:
    """Median validation loss (over networks) against fraction pruned, one line per arm."""
    _require(levels, ["arm", "fraction_pruned", "val_loss", "batches_trained"], "length_loss_chart")
    summary = levels.groupby(["arm", "level"]).agg(
        fraction_pruned=("fraction_pruned", "median"), val_loss=("val_loss", "median"),
        batches=("batches_trained", "median"),
    ).reset_index()
    return (
        alt.Chart(summary)
        .mark_line(point=True)
        .encode(
            x=alt.X("fraction_pruned:Q", title="fraction pruned"),
            y=alt.Y("val_loss:Q", scale=alt.Scale(type="log"), title="validation loss (median)"),
            color=alt.Color("arm:N", title="arm", sort=list(dict.fromkeys(levels["arm"])),
                            legend=legend()),
            tooltip=["arm:N", "fraction_pruned:Q", "val_loss:Q", "batches:Q"],
        )
        .properties(width=min(360, COLUMN_WIDTH - 100), height=220)
    )


@_placeholder_when_empty
def verdict_chart(by_arm: pd.DataFrame) -> alt.Chart:
    """Which finding holds in which arm (from :func:`mothlib.study.training_length.findings_by_arm`)."""
    _require(by_arm, ["arm", "finding", "holds", "measured"], "verdict_chart")
    rows = by_arm[["arm", "finding", "holds", "measured"]].assign(
        verdict=by_arm["holds"].map({True: "holds", False: "does not hold"}))
    return (
        alt.Chart(rows)
        .mark_rect(stroke="white")
        .encode(
            x=alt.X("arm:N", sort=list(dict.fromkeys(by_arm["arm"])), title="arm"),
            y=alt.Y("finding:O", title="finding"),
            color=alt.Color("verdict:N", legend=legend(),
                            scale=alt.Scale(domain=["holds", "does not hold"],
                                            range=["#4c78a8", "#e45756"])),
            tooltip=["arm:N", "finding:O", "verdict:N", "measured:N"],
        )
        .properties(width=220, height=180)
    )


@_placeholder_when_empty
def gap_chart(cells: pd.DataFrame) -> alt.Chart:
    """Median z of the short arm, the long arm and the seed per motif and fraction pruned (the
    ``cells`` of :func:`mothlib.study.training_length.gap_explained`), on a log axis."""
    _require(cells, ["motif", "fraction", "z_short", "z_long", "z_seed"], "gap_chart")
    long = cells.melt(id_vars=["motif", "fraction"], value_vars=["z_short", "z_long", "z_seed"],
                      var_name="source", value_name="z")
    long = long[np.isfinite(long["z"].astype(float)) & (long["z"] > 0)]
    _require(long, ["z"], "gap_chart")
    long["source"] = long["source"].map({"z_short": "short arm", "z_long": "long arm", "z_seed": "seed study"})
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("fraction:Q", title="fraction pruned"),
            y=alt.Y("z:Q", scale=alt.Scale(type="log"), title="median z (layer-edges)"),
            color=alt.Color("source:N", sort=["short arm", "long arm", "seed study"],
                            legend=legend()),
            tooltip=["motif:N", "fraction:Q", "source:N", "z:Q"],
        )
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(long["motif"]), title=None),
               columns=FACET_COLUMNS)
    )
