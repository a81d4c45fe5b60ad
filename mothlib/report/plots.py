"""Altair chart builders for the study: one function per figure, each taking DataFrames
(the book's tables are :func:`mothlib.report.tables.reader_table`).

Every builder returns an ``alt.Chart`` (or a compound chart) and does no computing beyond
aggregation for display, so a user can call it on tables from their own runs. Two rendering
modes, both drawing without network access:

* in JupyterLab, :func:`enable_lab_renderer` (the default of :func:`setup`) emits the Vega-Lite
  spec under the MIME type that JupyterLab's own bundled Vega extension draws
  (``application/vnd.vegalite.v5+json``). Altair's default HTML renderer loads Vega from a CDN
  and its ``jupyterlab`` renderer emits a Vega-Lite 6 MIME type that JupyterLab 4 has no
  renderer for;
* for the offline book, :func:`enable_book_renderer` (switched on by the environment variable
  ``MOTHLIB_BOOK=1``, which :mod:`mothlib.report.book` sets) renders each chart as
  ``<div id=...></div><script>vegaEmbed(...)</script>``, to be drawn by the Vega bundle vendored
  into the book's assets (:func:`vega_bundle`): no script is loaded from the internet.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from mothlib.study import reference
from mothlib.core.tables import check_columns
from mothlib.simulation.samples import INPUT_COLUMNS, OUTPUT_COLUMNS
from mothlib.study.findings import ZSCORED_MOTIFS
from mothlib.simulation.flight_model import STATE_NAMES
from mothlib.core.seeds import check_seed
from mothlib.report.tables import MISSING

__all__ = [
    "BOOK_RENDERER", "LAB_RENDERER", "LAB_MIME_TYPE", "EMBED_OPTIONS", "BOOK_ENV", "INPUT_NAMES",
    "OUTPUT_NAMES", "vega_bundle", "book_html", "lab_bundle", "enable_book_renderer",
    "enable_lab_renderer", "setup", "to_svg", "placeholder_chart", "z_summary", "trajectory_frame",
    "trajectories_chart", "features_chart", "split_loss_chart", "loss_chart", "network_layout",
    "network_chart", "motif_counts_chart", "zscore_chart", "zscore_distribution_chart",
    "zscore_slider_chart", "similarity_chart", "strategy_loss_chart", "null_model_scatter",
    "seed_zscore_chart", "seed_loss_chart", "chain_definition_chart", "COLUMN_WIDTH",
    "FACET_COLUMNS", "panel_width", "legend", "STATE_LABELS", "MIN_SHARE", "drawn_levels", "compact_count", "MISSING",
]

#: Name of the Altair renderer that emits book-ready HTML.
BOOK_RENDERER = "mothlib-book"
#: Name of the Altair renderer for a live JupyterLab (offline: JupyterLab's bundled Vega).
LAB_RENDERER = "mothlib-lab"
#: The MIME type JupyterLab 4's built-in Vega extension renders (Vega-Lite 3 to 5 types only).
LAB_MIME_TYPE = "application/vnd.vegalite.v5+json"
#: vega-embed options: the actions menu offers only what works offline (save as SVG or PNG).
EMBED_OPTIONS: dict[str, Any] = {
    "renderer": "svg",
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}
#: Environment variable that makes :func:`setup` choose the book renderer.
BOOK_ENV = "MOTHLIB_BOOK"
#: The networks' inputs and outputs, in order: the data module's column names (notebook 02 uses
#: the ``plots`` spellings, so they stay importable from here).
INPUT_NAMES = INPUT_COLUMNS
OUTPUT_NAMES = OUTPUT_COLUMNS

#: The book's content column at its default layout (the text column is about 704 px at 1024 to
#: 1600 px windows); every chart's total width, axes and legends included, stays within it.
COLUMN_WIDTH = 680
#: Room one panel's y axis (labels and title) takes beside the plot, and the gap between panels.
AXIS_ALLOWANCE = 58
PANEL_SPACING = 20
#: Small multiples: panels per row.
FACET_COLUMNS = 4
_HEIGHT = 120


def panel_width(columns: int = FACET_COLUMNS, *, budget: int = COLUMN_WIDTH,
                axis: int = AXIS_ALLOWANCE, spacing: int = PANEL_SPACING) -> int:
    """Width of one panel so that ``columns`` panels, each with its own y axis, fit ``budget``.

    Examples
    --------
    >>> panel_width(4)
    92
    """
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    return max(60, (budget - (columns - 1) * spacing - columns * axis - 10) // columns)


_WIDTH = panel_width()


def legend(title: str | None = None, *, columns: int | None = None) -> alt.Legend:
    """A legend below the plot (it never widens a chart past the column).

    ``columns`` wraps long legends (e.g. one entry per network) into rows.
    """
    kwargs: dict[str, Any] = {"orient": "bottom", "direction": "horizontal"}
    if columns is not None:
        kwargs["columns"] = columns
    if title is not None:
        kwargs["title"] = title
    return alt.Legend(**kwargs)


#: The flight model's state variables as axis labels: what each is and its unit (CGS, radians).
STATE_LABELS = {
    "x": "x: joint position (cm)", "xd": "x': joint velocity (cm/s)",
    "y": "y: joint height (cm)", "yd": "y': vertical velocity (cm/s)",
    "theta": "θ: head-thorax angle (rad)", "thetad": "θ': its rate (rad/s)",
    "phi": "φ: abdomen angle (rad)", "phid": "φ': its rate (rad/s)",
}


# -- rendering -----------------------------------------------------------------------------

def _vega_lite_version() -> str | None:
    version = alt.SCHEMA_VERSION.lstrip("v").split(".")
    return ".".join(version[:2])


def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script that defines ``window.vegaEmbed``.

    Wrapped in an IIFE so that its top-level names do not clash with Sphinx's scripts.
    """
    import vl_convert

    try:
        # vl-convert's stub marks snippet required; the function defaults it to None
        source = vl_convert.javascript_bundle(vl_version=_vega_lite_version())  # type: ignore[call-arg]
    except ValueError:  # a vl-convert without this Vega-Lite version: its latest
        source = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    return "(function () {\n" + source + "\n})();\n"


def book_html(chart: alt.TopLevelMixin | dict[str, Any], div_id: str | None = None) -> str:
    """HTML that draws ``chart`` with a page-level ``vegaEmbed`` (no external scripts)."""
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    div_id = div_id or f"vega-{uuid.uuid4().hex[:12]}"
    # "</" inside the JSON would end the script element early.
    payload = json.dumps(spec).replace("</", "<\\/")
    return (
        f'<div id="{div_id}" class="mothlib-chart"></div>\n'
        f'<script type="text/javascript">\n'
        f'(function () {{\n'
        f'  var el = document.getElementById("{div_id}");\n'
        f'  if (typeof vegaEmbed === "undefined") {{\n'
        f'    el.textContent = "This chart needs the Vega bundle of the mothlib book.";\n'
        f'    return;\n'
        f'  }}\n'
        f'  vegaEmbed(el, {payload}, {json.dumps(EMBED_OPTIONS)})\n'
        f'    .catch(function (err) {{ el.textContent = "Chart error: " + err; }});\n'
        f'}})();\n'
        f'</script>'
    )


def _book_renderer(spec: dict[str, Any], **_: Any) -> dict[str, str]:
    return {"text/html": book_html(spec)}


alt.renderers.register(BOOK_RENDERER, _book_renderer)


def lab_bundle(chart: alt.TopLevelMixin | dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """MIME bundle and metadata that JupyterLab 4 draws with its bundled Vega (no network).

    The spec keeps its Vega-Lite 6 content; only the MIME type names version 5, the newest one
    JupyterLab's extension accepts (it compiles with its own Vega-Lite 5).
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    title = spec.get("title")
    text = title if isinstance(title, str) and title else "chart"
    bundle = {LAB_MIME_TYPE: spec, "text/plain": f"<mothlib chart: {text}>"}
    return bundle, {LAB_MIME_TYPE: {"embed_options": dict(EMBED_OPTIONS)}}


def _lab_renderer(spec: dict[str, Any], **_: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return lab_bundle(spec)


alt.renderers.register(LAB_RENDERER, _lab_renderer)


def enable_book_renderer() -> None:
    """Render charts as book HTML (see module docstring)."""
    alt.renderers.enable(BOOK_RENDERER)


#: Altair's default limit on the rows a chart may embed (``alt.data_transformers``).
_ALTAIR_MAX_ROWS = 5000


def enable_lab_renderer() -> None:
    """Render charts with JupyterLab's bundled Vega extension (see module docstring)."""
    alt.renderers.enable(LAB_RENDERER)


def setup() -> str:
    """Prepare Altair for a notebook: no row limit; the book renderer when ``MOTHLIB_BOOK=1``,
    else the offline JupyterLab renderer.

    Returns the active renderer's name.
    """
    alt.data_transformers.disable_max_rows()
    if os.environ.get(BOOK_ENV) == "1":
        enable_book_renderer()
    else:
        enable_lab_renderer()
    return alt.renderers.active


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render a chart to an SVG string without a browser (for widgets and static output)."""
    import vl_convert

    try:
        return vl_convert.vegalite_to_svg(chart.to_dict(), vl_version=_vega_lite_version())
    except ValueError:
        return vl_convert.vegalite_to_svg(chart.to_dict())


# -- helpers -------------------------------------------------------------------------------

class _NoData(ValueError):
    """Raised inside a builder whose table has no rows; turned into a placeholder chart."""


def _require(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    check_columns(df, columns, what)
    if df.empty:
        raise _NoData(f"{what}: the table is empty")


def placeholder_chart(message: str) -> alt.Chart:
    """A chart that only says ``message`` (e.g. when no network reached the loss threshold)."""
    return (
        alt.Chart(pd.DataFrame({"message": [message]}))
        .mark_text(fontSize=13, align="left")
        .encode(text="message:N")
        .properties(width=420, height=40)
    )


def _placeholder_when_empty(builder):
    """Builders draw a placeholder, not an error, for a table without rows: a study at a small
    profile may have no network under the loss threshold, and its book must still build."""

    @functools.wraps(builder)
    def wrapped(*args, **kwargs):
        try:
            return builder(*args, **kwargs)
        except _NoData:
            return placeholder_chart(
                f"No data for {builder.__name__}: the table is empty "
                "(for example, no network reached the loss threshold)."
            )

    return wrapped


def _motif_sort(motifs: Sequence[str]) -> list[str]:
    present = set(motifs)
    return [m for m in ZSCORED_MOTIFS if m in present] + sorted(present - set(ZSCORED_MOTIFS))


def _finite_z(df: pd.DataFrame) -> pd.DataFrame:
    return df[np.isfinite(df["z"].astype(float))]


def z_summary(motifs: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Median and quartiles of z across networks per motif, level and ``by`` columns."""
    _require(motifs, ["motif", "level", "fraction_pruned", "z"], "z_summary")
    return reference.summarise_zscores(motifs, keys=["motif", "level", "fraction_pruned", *by])


#: A level's median is drawn only where at least this share of the networks is accurate there.
MIN_SHARE = 0.5


def drawn_levels(summary: pd.DataFrame, n_total: int | pd.Series, min_share: float = MIN_SHARE,
                 *, count: str = "n_networks") -> pd.Series:
    """Which rows of a per-level summary hold enough networks for a median to be drawn.

    Parameters
    ----------
    summary : DataFrame
        One row per level (and group), with the number of networks in column ``count``.
    n_total : int or Series aligned with ``summary``
        The networks a full level would hold.
    min_share : float
        The least share of ``n_total`` a drawn level holds (default one half): past it the
        "median across networks" would be one or two networks' values.

    Returns
    -------
    Series of bool, aligned with ``summary``
    """
    if not 0 <= min_share <= 1:
        raise ValueError(f"min_share must be in [0, 1], got {min_share}")
    return summary[count] >= min_share * n_total


def _thin_note(kept: pd.DataFrame, dropped: pd.DataFrame, n_total: int, min_share: float) -> str:
    """A subtitle saying which levels a median chart leaves out, and why."""
    if dropped.empty:
        return f"median and interquartile range over up to {n_total} networks"
    last = float(kept["fraction_pruned"].max()) if len(kept) else float("nan")
    return (f"lines stop at {last:.0%} pruned: past it fewer than {min_share:.0%} of the "
            f"{n_total} networks are accurate")


# -- figures -------------------------------------------------------------------------------

def trajectory_frame(states: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """Long table of simulated trajectories for :func:`trajectories_chart`.

    Parameters
    ----------
    states : array, shape (n_samples, n_times, 8)
        Output of ``simulate(..., times=times)``.
    times : array, shape (n_times,)
        Output times in seconds.

    Returns
    -------
    DataFrame
        Columns ``sample, time_ms, variable, value``.
    """
    states = np.asarray(states)
    times = np.asarray(times)
    if states.ndim != 3 or states.shape[1:] != (len(times), len(STATE_NAMES)):
        raise ValueError(
            f"states must have shape (n_samples, {len(times)}, {len(STATE_NAMES)}), "
            f"got {states.shape}"
        )
    n, t, k = states.shape
    return pd.DataFrame(
        {
            "sample": np.repeat(np.arange(n), t * k),
            "time_ms": np.tile(np.repeat(times * 1e3, k), n),
            "variable": np.tile(STATE_NAMES, n * t),
            "value": states.reshape(-1),
        }
    )


@_placeholder_when_empty
def trajectories_chart(frame: pd.DataFrame) -> alt.FacetChart:
    """Flight-model trajectories: each state variable against time, one line per sample."""
    _require(frame, ["sample", "time_ms", "variable", "value"], "trajectories_chart")
    frame = frame.assign(label=frame["variable"].map(STATE_LABELS).fillna(frame["variable"]))
    return (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("time_ms:Q", title="time (ms)"),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("sample:N", title="sample", legend=legend()),
        )
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("label:N", sort=[STATE_LABELS[n] for n in STATE_NAMES], title=None,
                               header=alt.Header(labelFontSize=11)), columns=FACET_COLUMNS)
        .resolve_scale(y="independent")
    )


@_placeholder_when_empty
def features_chart(
    X: np.ndarray, names: Sequence[str], *, title: str = "", max_rows: int | None = None, seed: int = 0
) -> alt.Chart:
    """Distribution of each column of a data matrix (a random subsample of rows): one box each.

    Parameters
    ----------
    X : array, shape (n, k)
    names : sequence of k str
    max_rows : int, optional
        Rows of ``X`` drawn for the chart. Default: as many as keep its ``k * rows`` values within
        Altair's default limit of 5000, so the chart works without :func:`setup`.
    seed : int
        Seeds the subsample.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != len(names):
        raise ValueError(f"X must have shape (n, {len(names)}), got {X.shape}")
    if max_rows is None:
        max_rows = max(_ALTAIR_MAX_ROWS // max(len(names), 1), 1)
    if len(X) > max_rows:
        X = X[np.random.default_rng(check_seed(seed)).choice(len(X), max_rows, replace=False)]
    frame = pd.DataFrame(X, columns=list(names)).melt(var_name="feature", value_name="value")
    return (
        alt.Chart(frame)
        .mark_boxplot(extent="min-max")
        .encode(x=alt.X("feature:N", sort=list(names), title=None), y=alt.Y("value:Q", title="scaled value"))
        .properties(width=min(40 * len(names), COLUMN_WIDTH - 80), height=200, title=title)
    )


@_placeholder_when_empty
def split_loss_chart(pruning: pd.DataFrame, level: int = 0, strategy: str = "magnitude") -> alt.Chart:
    """Training, validation and test loss of every network at one level (default: dense)."""
    _require(pruning, ["network", "strategy", "level", "train_loss", "val_loss", "test_loss"], "split_loss_chart")
    rows = pruning[(pruning["strategy"] == strategy) & (pruning["level"] == level)]
    frame = rows.melt(id_vars=["network"], value_vars=["train_loss", "val_loss", "test_loss"],
                      var_name="split", value_name="loss")
    return (
        alt.Chart(frame)
        .mark_point(filled=True, size=60)
        .encode(
            x=alt.X("network:O", title="network"),
            y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title="loss (scaled outputs)"),
            color=alt.Color("split:N", sort=["train_loss", "val_loss", "test_loss"], legend=legend()),
        )
        .properties(width=min(COLUMN_WIDTH - 80, max(200, 25 * rows["network"].nunique())), height=220)
    )


@_placeholder_when_empty
def loss_chart(pruning: pd.DataFrame, threshold: float, strategy: str = "magnitude") -> alt.LayerChart:
    """Validation loss against fraction pruned, one line per network, with the threshold and
    each network's selected level marked."""
    _require(pruning, ["network", "strategy", "fraction_pruned", "val_loss", "selected"], "loss_chart")
    rows = pruning[pruning["strategy"] == strategy]
    base = alt.Chart(rows).encode(
        x=alt.X("fraction_pruned:Q", title="fraction of weights pruned"),
        y=alt.Y("val_loss:Q", title="validation loss (scaled outputs)", scale=alt.Scale(type="log")),
        color=alt.Color("network:N", title="network", legend=legend(columns=10)),
    )
    lines = base.mark_line(point=alt.OverlayMarkDef(size=15), opacity=0.7)
    chosen = base.transform_filter(alt.datum.selected).mark_point(
        shape="diamond", size=120, filled=True
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(strokeDash=[6, 3], color="black")
        .encode(y="threshold:Q")
    )
    return (lines + chosen + rule).properties(
        width=420, height=260, title=f"{strategy} pruning: diamonds mark each network's selected level"
    )


def network_layout(
    weight_masks: Sequence[np.ndarray], bias_masks: Sequence[np.ndarray] | None = None,
    *, drop_isolated: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Node positions and edges of one network drawn as a layered graph.

    Parameters
    ----------
    weight_masks : sequence of bool arrays, shapes (n_{l+1}, n_l)
        One network's masks (orientation of ``torch.nn.Linear.weight``).
    bias_masks : sequence of bool arrays, shapes (n_{l+1},), optional
    drop_isolated : bool
        Leave out neurons without any edge (most neurons of a very sparse network).

    Returns
    -------
    nodes, edges : DataFrame
        ``nodes``: ``layer, index, kind, x, y``; ``edges``: ``layer, x, y, x2, y2, kind``.
    """
    weight_masks = [np.asarray(w, bool) for w in weight_masks]
    if any(w.ndim != 2 for w in weight_masks):
        raise ValueError("network_layout draws one network: each weight mask must be 2-D")
    sizes = [weight_masks[0].shape[1]] + [w.shape[0] for w in weight_masks]
    degree = [np.zeros(n, int) for n in sizes]
    for l, w in enumerate(weight_masks):
        degree[l] += w.sum(axis=0)
        degree[l + 1] += w.sum(axis=1)
        if bias_masks is not None:
            degree[l + 1] += np.asarray(bias_masks[l], bool)
    pos: dict[tuple[int, int], tuple[float, float]] = {}
    nodes = []
    for l, n in enumerate(sizes):
        keep = np.arange(n) if not drop_isolated or l in (0, len(sizes) - 1) else np.flatnonzero(degree[l])
        has_bias = bias_masks is not None and l < len(sizes) - 1
        count = len(keep) + int(has_bias)
        ys = np.linspace(0, 1, count) if count > 1 else np.array([0.5])
        for y, i in zip(ys, keep):
            pos[(l, int(i))] = (float(l), float(y))
            nodes.append({"layer": l, "index": int(i), "kind": "neuron", "x": float(l), "y": float(y)})
        if has_bias:
            pos[(l, -1)] = (float(l), float(ys[-1]))
            nodes.append({"layer": l, "index": -1, "kind": "bias", "x": float(l), "y": float(ys[-1])})
    edges = []
    for l, w in enumerate(weight_masks):
        for o, i in zip(*np.nonzero(w)):
            (x, y), (x2, y2) = pos[(l, int(i))], pos[(l + 1, int(o))]
            edges.append({"layer": l, "x": x, "y": y, "x2": x2, "y2": y2, "kind": "weight"})
        if bias_masks is not None:
            for o in np.flatnonzero(np.asarray(bias_masks[l], bool)):
                (x, y), (x2, y2) = pos[(l, -1)], pos[(l + 1, int(o))]
                edges.append({"layer": l, "x": x, "y": y, "x2": x2, "y2": y2, "kind": "bias"})
    edges_df = pd.DataFrame(edges, columns=["layer", "x", "y", "x2", "y2", "kind"])
    return pd.DataFrame(nodes), edges_df


def network_chart(
    weight_masks: Sequence[np.ndarray], bias_masks: Sequence[np.ndarray] | None = None,
    *, title: str = "", drop_isolated: bool = True,
) -> alt.LayerChart:
    """One sparse network drawn as a layered graph (inputs left, outputs right)."""
    nodes, edges = network_layout(weight_masks, bias_masks, drop_isolated=drop_isolated)
    axis: dict[str, Any] = dict(axis=None)
    edge_layer = (
        alt.Chart(edges)
        .mark_rule(opacity=0.35, strokeWidth=0.7)
        .encode(
            x=alt.X("x:Q", **axis), y=alt.Y("y:Q", **axis), x2="x2:Q", y2="y2:Q",
            color=alt.Color("kind:N", title="edge", legend=legend(),
                            scale=alt.Scale(domain=["weight", "bias"], range=["#4c78a8", "#e45756"])),
        )
    )
    node_layer = (
        alt.Chart(nodes)
        .mark_circle(size=18, color="black")
        .encode(x=alt.X("x:Q", **axis), y=alt.Y("y:Q", **axis),
                shape=alt.Shape("kind:N", title="node", legend=legend()),
                tooltip=["layer:Q", "index:Q", "kind:N"])
    )
    return (edge_layer + node_layer).properties(width=520, height=320, title=title)


@_placeholder_when_empty
def motif_counts_chart(motifs: pd.DataFrame) -> alt.FacetChart:
    """Motif counts against fraction pruned (log scale), one faint line per network."""
    _require(motifs, ["network", "motif", "fraction_pruned", "count"], "motif_counts_chart")
    rows = motifs.drop_duplicates(["network", "level", "motif"])
    rows = rows[rows["count"] > 0]
    return (
        alt.Chart(rows)
        .mark_line(point=alt.OverlayMarkDef(size=10), opacity=0.6)
        .encode(
            x=alt.X("fraction_pruned:Q", title="fraction pruned"),
            # Compact labels (2M, 50k): the counts of a width-128 network run to millions, and
            # full numbers on four independent axes pushed the chart out of the column.
            y=alt.Y("count:Q", scale=alt.Scale(type="log"), title="count (log)", axis=alt.Axis(format="~s")),
            color=alt.Color("network:N", legend=legend(columns=10)),
        )
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(rows["motif"]), title=None),
               columns=FACET_COLUMNS)
        .resolve_scale(y="independent")
    )


@_placeholder_when_empty
def zscore_chart(motifs: pd.DataFrame, color: str | None = None,
                 min_share: float = MIN_SHARE) -> alt.FacetChart:
    """The paper's main figure: z against fraction pruned per motif, median across networks
    with the interquartile band (and, with ``color``, one median per group of that column).

    Levels where fewer than ``min_share`` of the networks (of that group) are accurate are not
    drawn: there the "median" would be one network's value; the subtitle says where lines stop.
    """
    by = [color] if color else []
    summary = z_summary(motifs, by)
    if by:
        totals = motifs.groupby(by)["network"].nunique()
        n_total_rows = summary[by[0]].map(totals)
    else:
        n_total_rows = motifs["network"].nunique()
    n_total = int(motifs["network"].nunique())
    keep = drawn_levels(summary, n_total_rows, min_share)
    note = _thin_note(summary[keep], summary[~keep], n_total, min_share)
    summary = summary[keep]
    if summary.empty:
        raise _NoData("zscore_chart: no level where enough networks are accurate")
    enc_color = alt.Color(f"{color}:N", legend=legend()) if color else alt.value("#4c78a8")
    base = alt.Chart(summary).encode(x=alt.X("fraction_pruned:Q", title="fraction pruned",
                                             axis=alt.Axis(format="%")))
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y("z_q25:Q", title="z-score"), y2="z_q75:Q", color=enc_color
    )
    line = base.mark_line(point=alt.OverlayMarkDef(size=15)).encode(
        y="z_median:Q", color=enc_color,
        tooltip=["motif:N", "fraction_pruned:Q", "z_median:Q", "n_networks:Q", *by],
    )
    zero = alt.Chart().mark_rule(color="gray", strokeDash=[2, 2]).encode(y=alt.datum(0))
    return (
        alt.layer(band, line, zero, data=summary)
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(summary["motif"]), title=None),
               columns=FACET_COLUMNS)
        .resolve_scale(y="independent")
        .properties(title=alt.Title("z-score against fraction pruned", subtitle=note,
                                    anchor="start", fontSize=12, subtitleFontSize=11))
    )


def _z_boxes(rows: pd.DataFrame, y_title: str) -> alt.Chart:
    """One min-max box of z per motif (rows: finite z only)."""
    return (
        alt.Chart(rows)
        .mark_boxplot(extent="min-max")
        .encode(
            x=alt.X("motif:N", sort=_motif_sort(rows["motif"]), title=None),
            y=alt.Y("z:Q", title=y_title),
            color=alt.Color("motif:N", legend=None),
        )
        .properties(width=420, height=260)
    )


@_placeholder_when_empty
def zscore_distribution_chart(motifs_at_selected: pd.DataFrame) -> alt.Chart:
    """Distribution of z across networks at their selected levels: one box per motif."""
    _require(motifs_at_selected, ["motif", "z"], "zscore_distribution_chart")
    return _z_boxes(_finite_z(motifs_at_selected), "z-score at the selected level")


@_placeholder_when_empty
def zscore_slider_chart(motifs: pd.DataFrame) -> alt.Chart:
    """Z-score distributions per motif at one level, with a slider over levels (works in a
    static page: the filtering runs in the browser)."""
    _require(motifs, ["motif", "level", "fraction_pruned", "z"], "zscore_slider_chart")
    rows = _finite_z(motifs)
    if rows.empty:
        raise _NoData("zscore_slider_chart: no finite z")
    levels = sorted(rows["level"].unique())
    level = alt.param(
        name="level",
        value=int(levels[-1]),
        bind=alt.binding_range(min=int(levels[0]), max=int(levels[-1]), step=1, name="pruning level "),
    )
    return (
        _z_boxes(rows, "z-score across networks")
        .add_params(level)
        .transform_filter(alt.datum.level == level)
        .properties(title="Move the slider to change the pruning level")
    )


@_placeholder_when_empty
def similarity_chart(similarity: pd.DataFrame) -> alt.HConcatChart:
    """How similar networks' motif profiles are, per level: relative spread of z (falls when
    networks converge) and median pairwise correlation of significance profiles (rises)."""
    _require(similarity, ["fraction_pruned", "relative_spread", "profile_correlation"], "similarity_chart")
    base = alt.Chart(similarity).encode(x=alt.X("fraction_pruned:Q", title="fraction pruned"))
    spread = base.mark_line(point=True).encode(
        y=alt.Y("relative_spread:Q", title="median over motifs of std(z)/|mean(z)|")
    ).properties(width=240, height=200, title="Relative spread of z across networks")
    corr = base.mark_line(point=True, color="#f58518").encode(
        y=alt.Y("profile_correlation:Q", title="median pairwise correlation",
                scale=alt.Scale(domain=[-1, 1]))
    ).properties(width=240, height=200, title="Correlation of significance profiles")
    return alt.hconcat(spread, corr)


@_placeholder_when_empty
def strategy_loss_chart(pruning: pd.DataFrame) -> alt.LayerChart:
    """Median validation loss (with quartile band) against fraction pruned, per strategy."""
    _require(pruning, ["strategy", "fraction_pruned", "val_loss"], "strategy_loss_chart")
    summary = (
        pruning.groupby(["strategy", "fraction_pruned"])["val_loss"]
        .agg(q25=lambda s: s.quantile(0.25), median="median", q75=lambda s: s.quantile(0.75))
        .reset_index()
    )
    base = alt.Chart(summary).encode(
        x=alt.X("fraction_pruned:Q", title="fraction pruned"),
        color=alt.Color("strategy:N", legend=legend()),
    )
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("q25:Q", scale=alt.Scale(type="log"), title="validation loss (scaled outputs)"),
        y2="q75:Q",
    )
    return (band + base.mark_line(point=True).encode(y="median:Q")).properties(width=420, height=260)


@_placeholder_when_empty
def null_model_scatter(motifs: pd.DataFrame, a: str = "layer-edges", b: str = "degree-preserving") -> alt.Chart:
    """Each network and level's z under null model ``a`` against its z under ``b``."""
    _require(motifs, ["network", "level", "motif", "null_model", "z"], "null_model_scatter")
    wide = motifs.pivot_table(index=["network", "level", "strategy", "motif"], columns="null_model",
                              values="z", aggfunc="first").reset_index()
    if a not in wide or b not in wide:
        raise ValueError(f"null_model_scatter needs rows for both {a!r} and {b!r}")
    wide = wide[np.isfinite(wide[a].astype(float)) & np.isfinite(wide[b].astype(float))]
    wide = wide.rename(columns={a: "z_a", b: "z_b"})
    points = alt.Chart(wide).mark_circle(size=25, opacity=0.6).encode(
        x=alt.X("z_a:Q", title=f"z, {a} null"), y=alt.Y("z_b:Q", title=f"z, {b} null"),
        color=alt.Color("motif:N", sort=_motif_sort(wide["motif"]), legend=legend(columns=4)),
        tooltip=["motif:N", "network:Q", "level:Q", "z_a:Q", "z_b:Q"],
    )
    lo = float(min(wide["z_a"].min(), wide["z_b"].min())) if len(wide) else -1.0
    hi = float(max(wide["z_a"].max(), wide["z_b"].max())) if len(wide) else 1.0
    diagonal = alt.Chart(pd.DataFrame({"v": [lo, hi]})).mark_line(
        color="gray", strokeDash=[4, 4]).encode(x="v:Q", y="v:Q")
    return (diagonal + points).properties(width=360, height=300)


@_placeholder_when_empty
def seed_zscore_chart(comparison: pd.DataFrame, min_share: float = MIN_SHARE) -> alt.FacetChart:
    """Our median z (with quartiles) beside the seed study's, per motif
    (from :func:`mothlib.study.reference.compare_zscores`).

    With an ``n_networks`` column, each source's levels holding fewer than ``min_share`` of its
    most populated level's networks are left out (see :func:`zscore_chart`).
    """
    _require(comparison, ["motif", "fraction_pruned", "z_median", "z_q25", "z_q75", "source"],
             "seed_zscore_chart")
    if "n_networks" in comparison.columns:
        full = comparison.groupby("source")["n_networks"].transform("max")
        comparison = comparison[drawn_levels(comparison, full, min_share)]
        _require(comparison, ["z_median"], "seed_zscore_chart")
    base = alt.Chart().encode(
        x=alt.X("fraction_pruned:Q", title="fraction pruned"),
        color=alt.Color("source:N", legend=legend()),
    )
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("z_q25:Q", title="z-score"), y2="z_q75:Q")
    line = base.mark_line(point=True).encode(y="z_median:Q")
    return (
        alt.layer(band, line, data=comparison)
        .properties(width=_WIDTH, height=_HEIGHT)
        .facet(facet=alt.Facet("motif:N", sort=_motif_sort(comparison["motif"]), title=None),
               columns=FACET_COLUMNS)
        .resolve_scale(y="independent")
    )


@_placeholder_when_empty
def seed_loss_chart(comparison: pd.DataFrame, threshold: float = 1e-3) -> alt.LayerChart:
    """Our median validation loss per level beside the seed study's
    (from :func:`mothlib.study.reference.compare_losses`)."""
    _require(comparison, ["fraction_pruned", "val_loss_median", "val_loss_q25", "val_loss_q75", "source"],
             "seed_loss_chart")
    base = alt.Chart(comparison).encode(
        x=alt.X("fraction_pruned:Q", title="fraction pruned"),
        color=alt.Color("source:N", legend=legend()),
    )
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("val_loss_q25:Q", scale=alt.Scale(type="log"),
                title="validation loss (scaled outputs)"),
        y2="val_loss_q75:Q",
    )
    line = base.mark_line(point=True).encode(y="val_loss_median:Q")
    rule = alt.Chart(pd.DataFrame({"t": [threshold]})).mark_rule(strokeDash=[6, 3], color="black").encode(y="t:Q")
    return (band + line + rule).properties(width=420, height=260)


@_placeholder_when_empty
def chain_definition_chart(chains: pd.DataFrame, value_name: str | None = None,
                           min_share: float = MIN_SHARE) -> alt.FacetChart:
    """Chain counts (or z) by the exact path definition and by the seed's pair definition.

    ``chains`` has columns ``fraction_pruned, motif, definition, value`` and optionally
    ``network``; the median over networks is drawn (with ``network``, only at levels holding at
    least ``min_share`` of the networks). ``value_name`` names the value on the y axis.
    """
    _require(chains, ["fraction_pruned", "motif", "definition", "value"], "chain_definition_chart")
    value_name = "value" if value_name is None else value_name
    group = chains.groupby(["motif", "definition", "fraction_pruned"])
    summary = group["value"].median().reset_index()
    if "network" in chains.columns:
        summary["n_networks"] = group["network"].nunique().to_numpy()
        summary = summary[drawn_levels(summary, chains["network"].nunique(), min_share)]
        _require(summary, ["value"], "chain_definition_chart")
    return (
        alt.Chart(summary)
        .mark_line(point=True)
        .encode(
            x=alt.X("fraction_pruned:Q", title="fraction pruned"),
            y=alt.Y("value:Q", title=f"median {value_name} over networks"),
            color=alt.Color("definition:N", legend=legend()),
        )
        .properties(width=240, height=180)
        .facet(facet=alt.Facet("motif:N", title=None), columns=2)
        .resolve_scale(y="independent")
    )


# -- numbers in narrow columns ------------------------------------------------------------


def compact_count(value: float) -> str:
    """A count for a narrow table column: ``"950"``, ``"12.3k"``, ``"4.56M"``, ``"7.89G"``.

    Examples
    --------
    >>> [compact_count(v) for v in (950, 12_345, 4_560_000, float("nan"))]
    ['950', '12.3k', '4.56M', '–']
    """
    if not np.isfinite(value):
        return MISSING
    v = float(value)
    if abs(v) >= 1e4:  # round first, so that 999,700 reads "1M", not "1e+03k"
        v = float(f"{v:.3g}")
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(v) >= limit:
            scaled = v / (limit if suffix != "k" else 1e3)
            return f"{scaled:.3g}{suffix}"
    return f"{v:,.0f}"
