"""Altair charts of the training-length experiment (chapter "What the z-scores measure").

Each builder takes the ``training_length`` stage's tables
(:func:`mothlib.study.training_length.load_training_length`) and returns a chart; they only
aggregate for display. Empty tables give a placeholder chart, as in :mod:`mothlib.report.plots`.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from mothlib.report.plots import _motif_sort, _placeholder_when_empty, _require

__all__ = [
    "z_length_chart",
    "z_heterogeneity_chart",
    "length_loss_chart",
    "verdict_chart",
    "gap_chart",
]

_WIDTH = 130
_HEIGHT = 120


def _finite(df: pd.DataFrame, column: str) -> pd.DataFrame:
    return df[np.isfinite(df[column].astype(float))]


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
        color=alt.Color("null_model:N", title="null model"),
    )
    lines = base.mark_line().encode(y=alt.Y("z_median:Q", title="z-score"), detail="null_model:N")
    rules = base.mark_rule().encode(y="z_q25:Q", y2="z_q75:Q")
    points = base.mark_point(filled=True).encode(
        y="z_median:Q", shape=alt.Shape("arm:N", title="arm"),
        tooltip=["arm:N", "null_model:N", "motif:N", "batches:Q", "z_median:Q", "n_networks:Q"],
    )
    return (
        alt.layer(rules, lines, points, data=summary)
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(summary["motif"]), title=None), columns=4)
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
            color=alt.Color("arm:N", title="arm"),
            tooltip=["arm:N", "network:Q", "fraction_pruned:Q", "z:Q", "degree_cv:Q"],
        )
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(rows["motif"]), title=None), columns=4)
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
            color=alt.Color("arm:N", title="arm", sort=list(dict.fromkeys(levels["arm"]))),
            tooltip=["arm:N", "fraction_pruned:Q", "val_loss:Q", "batches:Q"],
        )
        .properties(width=360, height=220)
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
            color=alt.Color("verdict:N", scale=alt.Scale(domain=["holds", "does not hold"],
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
            color=alt.Color("source:N", sort=["short arm", "long arm", "seed study"]),
            tooltip=["motif:N", "fraction:Q", "source:N", "z:Q"],
        )
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(long["motif"]), title=None), columns=4)
    )
