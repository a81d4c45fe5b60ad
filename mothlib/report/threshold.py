"""The loss threshold as a live control: what a threshold selects, and a slider to move it.

Selection is a filter over the pruning table (every level's weights and z-scores are stored),
so moving the threshold recomputes nothing upstream.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import pandas as pd

from mothlib.report import plots
from mothlib.networks.pruning import mark_selected

__all__ = ["STATIC_NOTE", "selection_summary", "threshold_explorer"]

#: What the widget says where its chart would be, until the slider moves (with a kernel).
STATIC_NOTE = (
    "<i>This control needs a running Python kernel (open the chapter in JupyterLab): moving the "
    "slider then redraws the selection and the loss chart for the new threshold. In a saved page "
    "it shows the run's own threshold, whose loss chart is drawn above.</i>"
)


def selection_summary(
    pruning: pd.DataFrame, loss_threshold: float, strategy: str = "magnitude"
) -> tuple[pd.DataFrame, dict[str, float]]:
    """What ``loss_threshold`` selects for one strategy.

    Parameters
    ----------
    pruning : DataFrame
        The pruning table (``network, strategy, level, fraction_pruned, val_loss``).
    loss_threshold : float
    strategy : str

    Returns
    -------
    per_network : DataFrame
        One row per network: ``network, selected_level`` (-1: none), ``fraction_pruned`` and
        ``val_loss`` at that level (NaN for none).
    summary : dict
        ``n_networks``, ``n_selected``, ``share_selected`` and ``median_sparsity`` (over the
        selected networks; NaN when none).
    """
    rows = mark_selected(pruning[pruning["strategy"] == strategy], loss_threshold)
    if rows.empty:
        raise ValueError(f"no rows for strategy {strategy!r}")
    chosen = rows[rows["selected"]].set_index("network")
    networks = sorted(rows["network"].unique())
    per = pd.DataFrame({"network": networks})
    per["selected_level"] = [int(chosen["level"].get(n, -1)) for n in networks]
    per["fraction_pruned"] = [float(chosen["fraction_pruned"].get(n, np.nan)) for n in networks]
    per["val_loss"] = [float(chosen["val_loss"].get(n, np.nan)) for n in networks]
    n_sel = int((per["selected_level"] >= 0).sum())
    summary = {
        "n_networks": len(networks),
        "n_selected": n_sel,
        "share_selected": n_sel / len(networks),
        "median_sparsity": float(per["fraction_pruned"].median()) if n_sel else float("nan"),
    }
    return per, summary


def _summary_html(summary: dict[str, float], threshold: float) -> str:
    sparsity = summary["median_sparsity"]
    shown = "none selected" if np.isnan(sparsity) else f"{sparsity:.3f}"
    return (
        f"<b>threshold {threshold:.2e}</b>: {summary['n_selected']} of {summary['n_networks']} "
        f"networks selected ({summary['share_selected']:.0%}); median selected sparsity {shown}"
    )


def threshold_explorer(
    pruning: pd.DataFrame, loss_threshold: float, *, strategy: str = "magnitude"
) -> W.VBox:
    """A log-scale slider over the loss threshold: each network's selected level, the share of
    networks selected, the median selected sparsity and the loss chart with the threshold drawn.

    The slider needs a running kernel. Until it is moved, the widget shows the run's own
    selection and, in place of the chart, :data:`STATIC_NOTE` (a saved page, such as the
    static book, shows exactly that: the chart for the run's threshold is the one above it).
    """
    losses = pruning.loc[pruning["strategy"] == strategy, "val_loss"].astype(float)
    losses = losses[np.isfinite(losses) & (losses > 0)]
    if losses.empty:
        raise ValueError(f"no finite positive validation losses for strategy {strategy!r}")
    lo = np.floor(np.log10(min(losses.min(), loss_threshold)))
    hi = np.ceil(np.log10(max(losses.max(), loss_threshold)))
    slider = W.FloatLogSlider(value=loss_threshold, base=10, min=lo, max=hi, step=0.05,
                              description="threshold", readout_format=".1e",
                              continuous_update=False, layout=W.Layout(width="480px"))
    summary = W.HTML()
    table = W.HTML()
    chart = W.HTML()

    def redraw(*_: object, draw: bool = True) -> None:
        threshold = float(slider.value)
        per, stats = selection_summary(pruning, threshold, strategy)
        summary.value = _summary_html(stats, threshold)
        shown = per.rename(columns={"selected_level": "selected level",
                                    "fraction_pruned": "fraction pruned",
                                    "val_loss": "validation loss"})
        shown["selected level"] = shown["selected level"].map(lambda v: "none" if v < 0 else str(v))
        table.value = shown.to_html(
            index=False, na_rep="–",
            formatters={"fraction pruned": "{:.1%}".format, "validation loss": "{:.2e}".format})
        if draw:
            marked = mark_selected(pruning, threshold)
            svg = plots.to_svg(plots.loss_chart(marked, threshold, strategy))
            chart.value = f'<div style="max-width:100%;overflow:auto">{svg}</div>'
        else:
            chart.value = STATIC_NOTE

    slider.observe(redraw, names="value")
    redraw(draw=False)
    return W.VBox([slider, summary, chart, table])
