"""The loss threshold as a live control: selection summaries and the slider's callback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mothlib.report.threshold import selection_summary, threshold_explorer

# Three networks, four levels: network 2 never gets under 1e-3.
VAL = {0: [1e-4, 2e-4, 8e-4, 5e-3], 1: [2e-4, 9e-4, 2e-3, 4e-2], 2: [2e-3, 3e-3, 4e-3, 5e-3]}
FRACTIONS = [0.0, 0.5, 0.8, 0.9]


def _table() -> pd.DataFrame:
    rows = [dict(network=n, strategy="magnitude", level=l, fraction_pruned=FRACTIONS[l], val_loss=v,
                 train_loss=v, test_loss=v)
            for n, vals in VAL.items() for l, v in enumerate(vals)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "threshold, levels",
    [(1e-3, [2, 1, -1]), (2.5e-4, [1, 0, -1]), (1e-5, [-1, -1, -1]), (1.0, [3, 3, 3])],
)
def test_selection_summary_by_hand(threshold, levels):
    per, summary = selection_summary(_table(), threshold)
    assert per["selected_level"].tolist() == levels
    chosen = [FRACTIONS[l] for l in levels if l >= 0]
    assert summary["n_selected"] == len(chosen) and summary["share_selected"] == len(chosen) / 3
    if chosen:
        assert summary["median_sparsity"] == pytest.approx(float(np.median(chosen)))
    else:
        assert np.isnan(summary["median_sparsity"])


def test_slider_callback_updates_every_view():
    box = threshold_explorer(_table(), 1e-3)
    slider, summary, chart, table = box.children
    assert "2 of 3 networks selected" in summary.value and "0.650" in summary.value
    first_chart, first_table = chart.value, table.value
    slider.value = 2.5e-4
    assert "2 of 3 networks selected" in summary.value and "0.250" in summary.value
    assert chart.value != first_chart and table.value != first_table
    slider.value = 1e-5  # clamped to the slider's range, which starts at the smallest loss
    assert slider.value == pytest.approx(1e-4)
    assert "1 of 3" in summary.value and "0.000" in summary.value
    assert "<svg" in chart.value


def test_bad_input():
    with pytest.raises(ValueError, match="loss_threshold"):
        selection_summary(_table(), -1.0)
    with pytest.raises(ValueError, match="strategy 'random'"):
        selection_summary(_table(), 1e-3, "random")
