"""ipywidgets explorers for JupyterLab, built on :mod:`mothlib.report.plots`.

Charts inside the widgets are drawn as SVG by ``vl-convert`` (no JavaScript renderer), so the
state papermill saves also shows in the static book, where the controls are inert: the book's
interactive equivalent is :func:`mothlib.report.plots.zscore_slider_chart`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as W
import numpy as np
import pandas as pd

from mothlib.report import plots
from mothlib.report.tables import reader_table_html
from mothlib.study.findings import ZSCORED_MOTIFS

__all__ = ["MaskLoader", "motif_table", "network_explorer", "zscore_slider"]

#: Loads one level's masks: ``(strategy, level) -> (weight_masks, bias_masks)``, batched over
#: networks as :func:`mothlib.study.pruning_stage.load_masks` returns them.
MaskLoader = Callable[[str, int], tuple[Sequence[np.ndarray], Sequence[np.ndarray] | None]]

_NO_ROWS = "<i>The motif table is empty (for example, no network reached the loss threshold).</i>"
_TABLE_COLUMNS = ["motif", "count", "null_mean", "null_std", "z", "p_value", "z_note"]
_UNDEFINED = "undefined: the null samples are too few or all alike (see the note column)"


def _svg(chart) -> str:
    return f'<div style="overflow:auto">{plots.to_svg(chart)}</div>'


def _table_html(one: pd.DataFrame) -> str:
    """The motif table for readers: null statistics and z to 1 decimal, p-values 2 digits."""
    return reader_table_html(one, index=False, notes=_UNDEFINED)


def _rows_of(motifs: pd.DataFrame, strategy: str, null_model: str) -> pd.DataFrame | None:
    """The rows of one strategy and null model; None when the whole table is empty.

    An empty table is a legitimate study outcome (no network reached the threshold), shown as a
    note; a non-empty table without the asked rows is a wrong argument, so it raises.
    """
    if motifs.empty:
        return None
    rows = motifs[(motifs["strategy"] == strategy) & (motifs["null_model"] == null_model)]
    if rows.empty:
        raise ValueError(f"strategy, null_model: no motif rows for strategy={strategy!r}, "
                         f"null_model={null_model!r}")
    return rows


def motif_table(motifs: pd.DataFrame, network: int, level: int, null_model: str) -> pd.DataFrame:
    """One network's motif rows at one level and null model, motifs in the usual order."""
    rows = motifs[
        (motifs["network"] == network) & (motifs["level"] == level)
        & (motifs["null_model"] == null_model)
    ]
    order = {m: k for k, m in enumerate(ZSCORED_MOTIFS)}
    rows = rows.sort_values("motif", key=lambda s: s.map(order).fillna(len(order)))
    return rows[[c for c in _TABLE_COLUMNS if c in rows.columns]].reset_index(drop=True)


def network_explorer(
    motifs: pd.DataFrame,
    load_masks: MaskLoader | None = None,
    *,
    strategy: str = "magnitude",
    null_model: str = "layer-edges",
) -> W.VBox:
    """Pick a network and a pruning level: its motif table, z-scores and (with ``load_masks``)
    its drawing as a layered graph.

    Parameters
    ----------
    motifs : DataFrame
        The motif table (``motifs.parquet``).
    load_masks : callable, optional
        ``(strategy, level) -> (weight_masks, bias_masks)``, e.g.
        ``lambda s, l: mothlib.study.pruning_stage.load_masks(store, s, l)``.
    strategy, null_model : str
        Which rows to show.
    """
    rows = _rows_of(motifs, strategy, null_model)
    if rows is None:
        return W.VBox([W.HTML(_NO_ROWS)])
    networks = sorted(int(n) for n in rows["network"].unique())
    network = W.Dropdown(options=networks, value=networks[0], description="network")
    level = W.SelectionSlider(options=[0], description="level", continuous_update=False)
    info = W.HTML()
    table = W.HTML()
    zchart = W.HTML()
    drawing = W.HTML()

    def levels_of(net: int) -> list[int]:
        return sorted(int(v) for v in rows.loc[rows["network"] == net, "level"].unique())

    def redraw(*_: object) -> None:
        net, lev = int(network.value), int(level.value)
        one = motif_table(rows, net, lev, null_model)
        fraction = rows.loc[(rows["network"] == net) & (rows["level"] == lev), "fraction_pruned"]
        info.value = (
            f"<b>network {net}, level {lev}</b> ({float(fraction.iloc[0]):.2f} of weights pruned)"
            if len(fraction) else ""
        )
        table.value = _table_html(one)
        finite = one[np.isfinite(one["z"].astype(float))]
        zchart.value = _svg(plots.zscore_distribution_chart(finite)) if len(finite) else ""
        if load_masks is not None:
            weights, biases = load_masks(strategy, lev)
            w = [np.asarray(m)[net] for m in weights]
            b = None if biases is None else [np.asarray(m)[net] for m in biases]
            drawing.value = _svg(plots.network_chart(w, b, title=f"network {net}, level {lev}"))

    def on_network(*_: object) -> None:
        options = levels_of(int(network.value))
        level.unobserve(redraw, "value")
        level.options = options
        level.value = options[-1]
        level.observe(redraw, "value")
        redraw()

    network.observe(on_network, "value")
    level.observe(redraw, "value")
    on_network()
    return W.VBox([W.HBox([network, level]), info, W.HBox([table, zchart]), drawing])


def zscore_slider(motifs: pd.DataFrame, *, strategy: str = "magnitude",
                  null_model: str = "layer-edges") -> W.VBox:
    """A slider over pruning levels moving the distribution of z across networks per motif."""
    rows = _rows_of(motifs, strategy, null_model)
    if rows is None:
        return W.VBox([W.HTML(_NO_ROWS)])
    levels = sorted(int(v) for v in rows["level"].unique())
    slider = W.SelectionSlider(options=levels, value=levels[-1], description="level",
                               continuous_update=False)
    view = W.HTML()

    def redraw(*_: object) -> None:
        at = rows[rows["level"] == slider.value]
        finite = at[np.isfinite(at["z"].astype(float))]
        fraction = float(at["fraction_pruned"].iloc[0])
        view.value = (
            f"<b>level {slider.value}</b>: {fraction:.2f} pruned, {at['network'].nunique()} networks"
            + (_svg(plots.zscore_distribution_chart(finite)) if len(finite) else "")
        )

    slider.observe(redraw, "value")
    redraw()
    return W.VBox([slider, view])
