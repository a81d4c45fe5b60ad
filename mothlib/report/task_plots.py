"""Two tasks side by side ("Beyond the moth"): the comparison tables and their Altair charts.

The tables compare the magnitude-pruned networks of two tasks (the moth and the digits) at their
selected levels, from each task's study tables (``pruning.parquet`` with a ``selected`` column,
``motifs.parquet``):

* :func:`findings_by_task`: the six findings, judged on each task;
* :func:`motif_differences`: per motif, the median z of each task and whether the tasks differ
  (their interquartile ranges across networks do not overlap);
* :func:`median_profiles` and :func:`profile_agreement`: each task's median significance profile
  and how well the two agree, with the spread across networks as the yardstick.

The chart builders only draw these tables.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from mothlib.study import findings
from mothlib.study.findings import ZSCORED_MOTIFS
from mothlib.report.plots import legend, placeholder_chart

__all__ = [
    "selected_rows",
    "findings_by_task",
    "motif_differences",
    "median_profiles",
    "profile_agreement",
    "agreement_summary",
    "accuracy_chart",
    "profile_chart",
    "agreement_chart",
]


# -- tables --------------------------------------------------------------------------------

def selected_rows(pruning: pd.DataFrame, motifs: pd.DataFrame, strategy: str = "magnitude",
                  null_model: str = "layer-edges") -> pd.DataFrame:
    """Motif rows of one strategy and null model at each network's selected level (z-scored
    motifs only; empty when no network has a selected level)."""
    return findings.at_selected_levels(findings.select_motifs(motifs, strategy, null_model), pruning,
                                       strategy)


def findings_by_task(tables: Mapping[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """The six findings judged on each task.

    Parameters
    ----------
    tables : mapping
        Task name -> ``(pruning, motifs)`` (pruning with ``selected``).

    Returns
    -------
    DataFrame
        One row per finding: ``finding, claim``, then ``measured (<task>)`` and
        ``holds (<task>)`` per task, and ``holds on all`` (True only where every task holds).
    """
    out = None
    for task, (pruning, motifs) in tables.items():
        t = findings.findings_table(pruning, motifs)[["finding", "claim", "measured", "holds"]]
        t = t.rename(columns={"measured": f"measured ({task})", "holds": f"holds ({task})"})
        out = t if out is None else out.merge(t.drop(columns="claim"), on="finding")
    if out is None:
        raise ValueError("findings_by_task needs at least one task")
    out["holds on all"] = out[[f"holds ({task})" for task in tables]].all(axis=1)
    return out


def _quartiles(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    finite = rows[np.isfinite(rows[column].astype(float))]
    g = finite.groupby("motif")[column]
    return pd.DataFrame({"median": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75),
                         "n_networks": g.size()})


def motif_differences(at_selected: Mapping[str, pd.DataFrame], column: str = "z") -> pd.DataFrame:
    """Per motif, each task's median z (and quartiles) at the selected levels, and whether two
    tasks differ: their interquartile ranges across networks do not overlap.

    Parameters
    ----------
    at_selected : mapping of two tasks -> motif rows at the selected levels (:func:`selected_rows`)
    column : str
        What is compared: ``"z"``, or ``"sp"`` (the significance profile, z normalised within
        each motif order: comparable between networks of different sizes). The output's column
        names start with it.

    Returns
    -------
    DataFrame
        Index ``motif`` (:data:`mothlib.study.findings.ZSCORED_MOTIFS`); columns ``z median (<task>)``,
        ``z q25 (<task>)``, ``z q75 (<task>)`` per task, ``same sign`` and ``differ`` (False
        where either task has no finite z).
    """
    if len(at_selected) != 2:
        raise ValueError(f"motif_differences compares two tasks, got {list(at_selected)}")
    (a, rows_a), (b, rows_b) = at_selected.items()
    qa = _quartiles(rows_a, column).reindex(list(ZSCORED_MOTIFS))
    qb = _quartiles(rows_b, column).reindex(list(ZSCORED_MOTIFS))
    out = pd.DataFrame(index=pd.Index(list(ZSCORED_MOTIFS), name="motif"))
    for task, q in ((a, qa), (b, qb)):
        for col in ("median", "q25", "q75"):
            out[f"{column} {col} ({task})"] = q[col]
    known = qa["median"].notna() & qb["median"].notna()
    out["same sign"] = known & (np.sign(qa["median"]) == np.sign(qb["median"]))
    out["differ"] = known & ((qa["q75"] < qb["q25"]) | (qb["q75"] < qa["q25"]))
    return out


def median_profiles(at_selected: Mapping[str, pd.DataFrame], column: str = "sp") -> pd.DataFrame:
    """Each task's median significance profile at the selected levels, with quartiles.

    Returns
    -------
    DataFrame
        Long table: ``task, motif, median, q25, q75, n_networks`` (motifs in
        :data:`ZSCORED_MOTIFS`; motifs without a finite value left out).
    """
    parts = []
    for task, rows in at_selected.items():
        q = _quartiles(rows, column).reindex(list(ZSCORED_MOTIFS)).dropna(subset=["median"])
        parts.append(q.reset_index().assign(task=task))
    if not parts:
        return pd.DataFrame(columns=["task", "motif", "median", "q25", "q75", "n_networks"])
    out = pd.concat(parts, ignore_index=True)
    return out[["task", "motif", "median", "q25", "q75", "n_networks"]]


def _profiles(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Networks x motifs (:data:`ZSCORED_MOTIFS`) table of ``column``."""
    if rows.empty:
        return pd.DataFrame(columns=list(ZSCORED_MOTIFS), dtype=float)
    wide = rows.pivot_table(index="network", columns="motif", values=column, aggfunc="first")
    return wide.reindex(columns=list(ZSCORED_MOTIFS)).astype(float)


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over the entries finite in both (NaN with fewer than 3 or no spread)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(x[ok], y[ok])[0, 1])


def profile_agreement(at_selected: Mapping[str, pd.DataFrame], column: str = "sp") -> pd.DataFrame:
    """How well networks' significance profiles agree, within and across two tasks.

    For every network of each task: ``within`` is the correlation of its profile with the median
    profile of the *other* networks of its task (leave one out: the spread across networks, the
    yardstick), ``across`` the correlation with the other task's median profile. One more row,
    ``between``, correlates the two tasks' median profiles.

    Returns
    -------
    DataFrame
        Columns ``task, network, kind ("within", "across" or "between"), correlation``
        (``network`` -1 and ``task`` "both" for the between row).
    """
    if len(at_selected) != 2:
        raise ValueError(f"profile_agreement compares two tasks, got {list(at_selected)}")
    tables = {task: _profiles(rows, column) for task, rows in at_selected.items()}
    medians = {task: t.median(axis=0, skipna=True).to_numpy(dtype=float) if len(t) else
               np.full(len(ZSCORED_MOTIFS), np.nan) for task, t in tables.items()}
    (a, ta), (b, tb) = tables.items()
    rows = []
    for task, table, other in ((a, ta, b), (b, tb, a)):
        values = table.to_numpy(dtype=float)
        for i, network in enumerate(table.index):
            rest = np.delete(values, i, axis=0)
            loo = np.nanmedian(rest, axis=0) if len(rest) else np.full(values.shape[1], np.nan)
            rows.append((task, int(network), "within", _corr(values[i], loo)))
            rows.append((task, int(network), "across", _corr(values[i], medians[other])))
    rows.append(("both", -1, "between", _corr(medians[a], medians[b])))
    return pd.DataFrame(rows, columns=["task", "network", "kind", "correlation"])


def agreement_summary(agreement: pd.DataFrame) -> dict[str, float]:
    """The numbers the chapter quotes from :func:`profile_agreement`.

    The measure is ``between``, the correlation of the two tasks' median profiles. Its yardstick
    is the spread across networks: how well a network's profile matches its own task's median
    (``within``), the lower of the two tasks' medians. The tasks share a profile
    (``same_profile`` 1.0) when ``between`` reaches the yardstick; it is undecided (NaN) when
    the yardstick is not positive, i.e. the networks of a task do not agree among themselves.

    Returns
    -------
    dict
        ``between``, ``within_<task>`` (median within-task correlation, per task),
        ``yardstick``, ``across_median`` (a network against the other task's median profile)
        and ``same_profile`` (1.0, 0.0, or NaN when undecided).
    """
    out: dict[str, float] = {}
    between = agreement.loc[agreement["kind"] == "between", "correlation"]
    out["between"] = float(between.iloc[0]) if len(between) else float("nan")
    within = agreement[agreement["kind"] == "within"]
    per_task = []
    for task in [t for t in agreement["task"].unique() if t != "both"]:
        values = within.loc[within["task"] == task, "correlation"].dropna()
        out[f"within_{task}"] = float(values.median()) if len(values) else float("nan")
        per_task.append(out[f"within_{task}"])
    out["yardstick"] = float(min(per_task)) if per_task and np.isfinite(per_task).all() else float("nan")
    across = agreement.loc[agreement["kind"] == "across", "correlation"].dropna()
    out["across_median"] = float(across.median()) if len(across) else float("nan")
    decided = np.isfinite(out["between"]) and np.isfinite(out["yardstick"]) and out["yardstick"] > 0
    out["same_profile"] = float(out["between"] >= out["yardstick"]) if decided else float("nan")
    return out


# -- charts --------------------------------------------------------------------------------

def _or_placeholder(columns: Sequence[str]):
    """Draw a placeholder, not an error, for an empty table (a small profile may select nothing)."""

    def decorate(builder):
        @functools.wraps(builder)
        def wrapped(table: pd.DataFrame, *args, **kwargs):
            missing = [c for c in columns if c not in table.columns]
            if missing:
                raise ValueError(f"{builder.__name__} needs columns {missing}; the table has {list(table.columns)}")
            if table.empty:
                return placeholder_chart(f"No data for {builder.__name__}: the table is empty.")
            return builder(table, *args, **kwargs)

        return wrapped

    return decorate


@_or_placeholder(["fraction_pruned", "val_accuracy", "network"])
def accuracy_chart(pruning: pd.DataFrame, margin: float | None = None) -> alt.LayerChart:
    """Validation accuracy against fraction pruned, one line per network, the selected levels
    as filled points (with a ``selected`` column) and, given ``margin``, the median dense
    accuracy minus the margin as a dashed rule."""
    base = alt.Chart(pruning).encode(
        x=alt.X("fraction_pruned:Q", title="fraction pruned"),
        y=alt.Y("val_accuracy:Q", title="validation accuracy", scale=alt.Scale(zero=False)),
        color=alt.Color("network:N", legend=legend(columns=10)),
    )
    layers = [base.mark_line(opacity=0.6)]
    if "selected" in pruning.columns:
        layers.append(alt.Chart(pruning[pruning["selected"]]).mark_point(filled=True, size=70).encode(
            x="fraction_pruned:Q", y="val_accuracy:Q", color=alt.Color("network:N"),
            tooltip=["network:N", "level:Q", "fraction_pruned:Q", "val_accuracy:Q"]))
    if margin is not None:
        dense = float(pruning.loc[pruning["fraction_pruned"] == 0, "val_accuracy"].median())
        layers.append(alt.Chart(pd.DataFrame({"y": [dense - float(margin)]}))
                      .mark_rule(color="gray", strokeDash=[4, 3]).encode(y="y:Q"))
    # altair types .properties() of a layer as a layer or a facet chart
    return alt.layer(*layers).properties(width=420, height=260)  # type: ignore[return-value]


@_or_placeholder(["task", "motif", "median", "q25", "q75"])
def profile_chart(profiles: pd.DataFrame) -> alt.LayerChart:
    """Median significance profile of each task (points) with the interquartile range across
    networks (bars), motif by motif."""
    order = [m for m in ZSCORED_MOTIFS if m in set(profiles["motif"])]
    base = alt.Chart(profiles).encode(
        x=alt.X("motif:N", sort=order, title=None),
        xOffset=alt.XOffset("task:N"),
        color=alt.Color("task:N", legend=legend()),
    )
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("q25:Q", title="significance profile (sp)"),
                                                y2="q75:Q")
    points = base.mark_point(filled=True, size=60).encode(
        y="median:Q", tooltip=["task:N", "motif:N", "median:Q", "q25:Q", "q75:Q", "n_networks:Q"])
    zero = alt.Chart().mark_rule(color="gray", strokeDash=[2, 2]).encode(y=alt.datum(0))
    # altair types .properties() of a layer as a layer or a facet chart
    return alt.layer(bars, points, zero, data=profiles).properties(width=460, height=260)  # type: ignore[return-value]


@_or_placeholder(["task", "kind", "correlation"])
def agreement_chart(agreement: pd.DataFrame) -> alt.LayerChart:
    """Correlations of networks' profiles within their task and across tasks (one point per
    network), with the correlation of the two tasks' median profiles as a dashed rule."""
    per_network = agreement[agreement["kind"] != "between"].dropna(subset=["correlation"])
    per_network = per_network.assign(group=per_network["kind"] + " (" + per_network["task"] + ")")
    points = alt.Chart(per_network).mark_tick(thickness=2, size=18).encode(
        y=alt.Y("group:N", title=None),
        x=alt.X("correlation:Q", scale=alt.Scale(domain=[-1, 1]), title="Pearson correlation of profiles"),
        color=alt.Color("kind:N", legend=legend()),
        tooltip=["task:N", "network:N", "kind:N", "correlation:Q"],
    )
    between = agreement[agreement["kind"] == "between"].dropna(subset=["correlation"])
    rule = alt.Chart(between).mark_rule(color="black", strokeDash=[5, 3]).encode(x="correlation:Q")
    # altair types .properties() of a layer as a layer or a facet chart
    return alt.layer(points, rule).properties(width=420, height=140)  # type: ignore[return-value]
