"""Every chart builder produces a valid Vega-Lite spec that renders, from synthetic tables."""

from __future__ import annotations

import json
import re

import altair as alt
import numpy as np
import pandas as pd
import pytest

from mothlib.study import findings
from mothlib.report import plots
from mothlib.study import reference


def _render(chart) -> str:
    svg = plots.to_svg(chart)  # compiles and draws with Vega: catches bad encodings
    assert svg.startswith("<svg") and "</svg>" in svg
    return svg


def test_trajectory_frame_and_chart():
    times = np.linspace(0, 0.02, 5)
    states = np.arange(2 * 5 * 8, dtype=float).reshape(2, 5, 8)
    frame = plots.trajectory_frame(states, times)
    assert len(frame) == 2 * 5 * 8
    row = frame[(frame["sample"] == 1) & (frame["variable"] == "theta")].iloc[2]
    assert row["value"] == states[1, 2, 4] and row["time_ms"] == pytest.approx(10.0)
    _render(plots.trajectories_chart(frame))
    with pytest.raises(ValueError, match="shape"):
        plots.trajectory_frame(states[:, :, :3], times)


def test_study_charts_render(tables):
    pruning, motifs = tables
    one = findings.select_motifs(motifs)
    at_selected = findings.at_selected_levels(one, pruning)
    charts = [
        plots.loss_chart(pruning, threshold=1e-3),
        plots.motif_counts_chart(one),
        plots.zscore_chart(one),
        plots.zscore_chart(motifs[motifs.null_model == "layer-edges"], color="strategy"),
        plots.zscore_distribution_chart(at_selected),
        plots.zscore_slider_chart(one),
        plots.similarity_chart(findings.similarity_by_level(one)),
        plots.strategy_loss_chart(pruning),
        plots.null_model_scatter(motifs[motifs.strategy == "magnitude"]),
        plots.seed_zscore_chart(reference.compare_zscores(one, "test")),
        plots.seed_loss_chart(reference.compare_losses(pruning[pruning.strategy == "magnitude"], "t")),
    ]
    for chart in charts:
        _fits(_render(chart))


def _fits(svg: str) -> None:
    """The drawn chart, legends and titles included, is no wider than the book's column."""
    width = float(re.search(r'<svg[^>]*\bwidth="([0-9.]+)"', svg).group(1))
    assert width <= plots.COLUMN_WIDTH, f"chart is {width:.0f} px wide"


def test_every_facet_chart_fits_the_column_with_its_legend_below(tables):
    from mothlib.report import length_plots

    times = np.linspace(0, 0.02, 5)
    frame = plots.trajectory_frame(np.random.default_rng(0).normal(size=(4, 5, 8)), times)
    spec = plots.trajectories_chart(frame).to_dict()
    _fits(_render(plots.trajectories_chart(frame)))
    assert spec["spec"]["encoding"]["color"]["legend"]["orient"] == "bottom"
    # Every state variable's panel says what it is and its unit.
    assert set(frame["variable"]) <= set(plots.STATE_LABELS)
    assert all("(" in label and ")" in label for label in plots.STATE_LABELS.values())
    assert plots.panel_width(4) * 4 + 3 * plots.PANEL_SPACING + 4 * plots.AXIS_ALLOWANCE <= plots.COLUMN_WIDTH
    with pytest.raises(ValueError, match="at least 1"):
        plots.panel_width(0)
    assert length_plots._WIDTH == plots.panel_width()


def test_motif_counts_chart_fits_with_counts_in_the_millions():
    """The `quick` networks' counts reach millions (the synthetic tables' do not): four
    independent log axes with full numbers made the chart 766 px wide."""
    from mothlib.motifs.counts import MOTIFS

    rng = np.random.default_rng(0)
    rows = [dict(network=net, level=level, motif=motif, fraction_pruned=level / 14,
                 count=int(10 ** rng.uniform(2, 7.5)))
            for net in range(8) for level in range(14) for motif in MOTIFS]
    _fits(_render(plots.motif_counts_chart(pd.DataFrame(rows))))


def test_zscore_chart_stops_where_fewer_than_half_the_networks_are_accurate(tables):
    _, motifs = tables
    one = findings.select_motifs(motifs)
    # Keep the last two levels for one network only: they must not be drawn as medians.
    last = sorted(one["level"].unique())[-2:]
    thin = one[~one["level"].isin(last) | (one["network"] == 0)]
    spec = plots.zscore_chart(thin).to_dict()
    drawn = pd.DataFrame(spec["datasets"][next(iter(spec["datasets"]))])
    assert not set(drawn["level"]) & set(last)
    assert "fewer than 50%" in spec["title"]["subtitle"]
    full = plots.zscore_chart(one).to_dict()
    assert "up to" in full["title"]["subtitle"]
    # The rule matches a brute-force count per level.
    summary = plots.z_summary(thin)
    n_total = thin["network"].nunique()
    expected = [thin[(thin.level == r.level) & (thin.motif == r.motif) & np.isfinite(thin.z)]
                ["network"].nunique() >= 0.5 * n_total for r in summary.itertuples()]
    assert plots.drawn_levels(summary, n_total).tolist() == expected


def test_length_difference_is_paired_by_network_with_an_interval():
    from mothlib.report import length_plots

    rng = np.random.default_rng(1)
    rows = []
    for arm, shift in (("short", 0.0), ("long", 3.0)):
        for net in range(8):
            for motif, base in (("bifan", 6.0), ("chain2", 0.1)):
                rows.append(dict(arm=arm, network=net, level=2, null_model="layer-edges",
                                 motif=motif, z=base + net + shift + 0.01 * rng.normal()))
    z = pd.DataFrame(rows)
    out = length_plots.length_difference(z, 2, "short", "long", n_boot=200).set_index("motif")
    # Paired: every network moves by 3, so the median change is 3 with a tight interval,
    # although the networks' own z spread over 8 units.
    assert out.loc["bifan", "change"] == pytest.approx(3.0, abs=0.05)
    assert out.loc["bifan", "change_low"] > 2.9 and out.loc["bifan", "change_high"] < 3.1
    brute = np.median(z[(z.arm == "long") & (z.motif == "bifan")]["z"].to_numpy()
                      - z[(z.arm == "short") & (z.motif == "bifan")]["z"].to_numpy())
    assert out.loc["bifan", "change"] == pytest.approx(brute)
    assert out.loc["bifan", "ratio"] == pytest.approx(out.loc["bifan", "z_long"] / out.loc["bifan", "z_short"])
    assert out.loc["chain2", "n_networks"] == 8
    with pytest.raises(ValueError, match="n_boot"):
        length_plots.length_difference(z, 2, "short", "long", n_boot=0)


def test_compact_count_for_narrow_columns():
    # The table formatter and its tests are in tests/test_tables.py.
    assert [plots.compact_count(v) for v in (950, 12_345, 4_560_000, np.nan)] == ["950", "12.3k", "4.56M", "–"]
    assert [plots.compact_count(v) for v in (9_999, 999_700, 999_999_999, -12_345)] == ["9,999", "1M", "1G", "-12.3k"]


def test_slider_is_bound_to_levels(tables):
    _, motifs = tables
    spec = plots.zscore_slider_chart(findings.select_motifs(motifs)).to_dict()
    param = spec["params"][0]
    assert param["bind"]["input"] == "range"
    assert (param["bind"]["min"], param["bind"]["max"]) == (0, 8)


def test_network_layout_draws_every_kept_edge():
    rng = np.random.default_rng(0)
    w = [rng.random((5, 4)) < 0.4, rng.random((3, 5)) < 0.4]
    b = [rng.random(5) < 0.5, rng.random(3) < 0.5]
    nodes, edges = plots.network_layout(w, b)
    assert len(edges) == sum(m.sum() for m in w) + sum(m.sum() for m in b)
    assert (edges["x2"] - edges["x"] == 1).all()
    assert (nodes["kind"] == "bias").sum() == 2
    _render(plots.network_chart(w, b, title="test"))
    with pytest.raises(ValueError, match="one network"):
        plots.network_layout([np.ones((2, 3, 4), bool)])


def test_chain_definition_chart_renders():
    df = pd.DataFrame({
        "fraction_pruned": [0.1, 0.5] * 4, "motif": ["chain2"] * 4 + ["chain3"] * 4,
        "definition": ["paths", "paths", "seed-pairs", "seed-pairs"] * 2, "value": range(8),
    })
    _render(plots.chain_definition_chart(df))


def test_z_summary_matches_numpy_quartiles_per_group(tables):
    _, motifs = tables
    rows = motifs[motifs["strategy"] == "magnitude"].copy()
    rows.loc[rows.index[::7], "z"] = np.nan  # left out, like the seed's summary
    got = plots.z_summary(rows, by=["null_model"])
    assert len(got) == rows.groupby(["motif", "level", "null_model"]).ngroups
    for _, g in got.sample(12, random_state=0).iterrows():
        z = rows.loc[(rows["motif"] == g["motif"]) & (rows["level"] == g["level"])
                     & (rows["null_model"] == g["null_model"]), "z"].to_numpy(float)
        z = z[np.isfinite(z)]
        assert g["n_networks"] == len(z)
        np.testing.assert_allclose([g["z_q25"], g["z_median"], g["z_q75"]],
                                   np.quantile(z, [0.25, 0.5, 0.75]), rtol=1e-12)


def test_builders_reject_missing_columns(tables):
    pruning, _ = tables
    with pytest.raises(ValueError, match=r"loss_chart: the table lacks columns \['val_loss'\]"):
        plots.loss_chart(pruning.drop(columns="val_loss"), threshold=1e-3)
    # An empty table (no network under the threshold) draws a placeholder, not an error.
    empty = plots.zscore_distribution_chart(pd.DataFrame(columns=["motif", "z"]))
    assert "No data" in json.dumps(empty.to_dict())
    _render(empty)
    assert "No data" in json.dumps(plots.zscore_slider_chart(pd.DataFrame(
        {"motif": ["bifan"], "level": [0], "fraction_pruned": [0.0], "z": [np.nan]})).to_dict())
    with pytest.raises(ValueError, match="empty"):
        plots.z_summary(pd.DataFrame(columns=["motif", "level", "fraction_pruned", "z"]))


def test_book_html_is_self_contained(monkeypatch):
    chart = alt.Chart(pd.DataFrame({"a": ["</script><b>"], "b": [1]})).mark_bar().encode(x="a", y="b")
    html = plots.book_html(chart, div_id="c1")
    assert '<div id="c1"' in html and "vegaEmbed(el" in html
    assert html.count("</script>") == 1  # the data's "</script>" is escaped
    assert "http" not in html.replace(chart.to_dict()["$schema"], "")
    monkeypatch.setenv(plots.BOOK_ENV, "1")
    assert plots.setup() == plots.BOOK_RENDERER
    bundle = chart._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "vegaEmbed" in bundle["text/html"]
    assert '"editor": false' in html and '"export": true' in html  # offline actions only
    alt.renderers.enable("default")


def test_lab_renderer_emits_a_mime_type_jupyterlab_draws_offline(monkeypatch):
    chart = alt.Chart(pd.DataFrame({"a": ["x"], "b": [1]})).mark_bar().encode(x="a", y="b")
    monkeypatch.delenv(plots.BOOK_ENV, raising=False)
    assert plots.setup() == plots.LAB_RENDERER
    bundle, metadata = chart._repr_mimebundle_()
    # JupyterLab 4's bundled Vega extension renders Vega-Lite 3 to 5 MIME types only.
    assert set(bundle) == {"application/vnd.vegalite.v5+json", "text/plain"}
    assert bundle["application/vnd.vegalite.v5+json"]["mark"]["type"] == "bar"
    assert "text/html" not in bundle  # no script, nothing loaded from a CDN
    options = metadata["application/vnd.vegalite.v5+json"]["embed_options"]
    assert options["actions"] == {"export": True, "source": False, "compiled": False, "editor": False}
    alt.renderers.enable("default")


def test_vega_bundle_defines_vega_embed_in_an_iife():
    js = plots.vega_bundle()
    assert js.startswith("(function () {") and "window.vegaEmbed" in js
    # The whole bundle (not just its head) names no script host: it is read offline.
    urls = set(re.findall(r"https?://[^\s\"'`)]+", js))
    hosts = {re.match(r"https?://([^/:]+)", u).group(1) for u in urls}
    assert not {h for h in hosts if "cdn" in h or h in ("unpkg.com", "esm.sh", "ga.jspm.io")}, hosts
    assert "cdn.jsdelivr" not in js and "unpkg.com" not in js


def test_network_explorer_follows_its_controls(tables):
    from mothlib.report import widgets

    _, motifs = tables
    rng = np.random.default_rng(0)
    calls = []

    def load(strategy, level):
        calls.append((strategy, level))
        return [rng.random((6, 4, 3)) < 0.5, rng.random((6, 2, 4)) < 0.5], [rng.random((6, 4)) < 0.5, rng.random((6, 2)) < 0.5]

    box = widgets.network_explorer(motifs, load)
    network, level = box.children[0].children
    info, (table, zchart), drawing = box.children[1], box.children[2].children, box.children[3]
    assert "network 0, level 8" in info.value and "<svg" in zchart.value and "<svg" in drawing.value
    level.value = 3
    assert "level 3" in info.value and calls[-1] == ("magnitude", 3)
    network.value = 2
    assert "network 2" in info.value
    body = table.value.split("<tbody>")[1]
    assert body.count("<tr>") == len(widgets.ZSCORED_MOTIFS)
    # Rounded for readers: z and null statistics to 1 decimal, reader column names.
    one = widgets.motif_table(motifs[motifs.strategy == "magnitude"], 2, int(level.value), "layer-edges")
    assert f"{one['z'].iloc[0]:.1f}<" in body and "null mean" in table.value
    assert f"{one['z'].iloc[0]:.3f}" not in body
    with pytest.raises(ValueError, match="no motif rows"):
        widgets.network_explorer(motifs, strategy="nope")
    assert "empty" in widgets.network_explorer(motifs.iloc[:0]).children[0].value
    assert "empty" in widgets.zscore_slider(motifs.iloc[:0]).children[0].value


def test_network_explorer_shows_an_undefined_z_as_a_dash_with_its_footnote(tables):
    from mothlib.report import widgets

    _, motifs = tables
    motifs = motifs.copy()
    motifs["z"] = motifs["z"].astype(float)
    motifs.loc[motifs["motif"] == "chain2", ["z", "p_value"]] = np.nan
    table = widgets.network_explorer(motifs).children[2].children[0].value
    assert "\u2013\u00b9" in table and "\u00b9 undefined:" in table
    assert "nan" not in table.split("<tbody>")[1].lower()


def test_zscore_slider_moves(tables):
    from mothlib.report import widgets

    _, motifs = tables
    box = widgets.zscore_slider(motifs)
    slider, view = box.children
    slider.value = 2
    assert "level 2" in view.value and "0.35 pruned" in view.value and "<svg" in view.value


def test_feature_and_split_loss_charts(tables):
    pruning, _ = tables
    X = np.random.default_rng(0).uniform(-0.5, 0.5, (3000, len(plots.INPUT_NAMES)))
    # Without plots.setup(): Altair's default row limit holds, as in a user's own session.
    with alt.data_transformers.enable("default", max_rows=5000):
        spec = plots.features_chart(X, plots.INPUT_NAMES).to_dict()
    assert len(spec["datasets"][next(iter(spec["datasets"]))]) == 500 * len(plots.INPUT_NAMES)
    spec = plots.features_chart(X, plots.INPUT_NAMES, max_rows=100).to_dict()
    assert len(spec["datasets"][next(iter(spec["datasets"]))]) == 100 * len(plots.INPUT_NAMES)
    _render(plots.features_chart(X, plots.INPUT_NAMES))
    _render(plots.split_loss_chart(pruning))
    with pytest.raises(ValueError, match="shape"):
        plots.features_chart(X[:, :3], plots.INPUT_NAMES)
