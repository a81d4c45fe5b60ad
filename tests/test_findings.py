"""The findings table and similarity measures on synthetic tables whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _nets import iterative_clean
from conftest import synthetic_tables
from mothlib.study import findings
from mothlib.motifs import counts as motifs
from mothlib.study import reference


def _holds(table: pd.DataFrame) -> dict[int, bool]:
    return dict(zip(table["finding"], table["holds"]))


def test_all_findings_hold_on_paper_like_tables(tables):
    pruning, motifs = tables
    table = findings.findings_table(pruning, motifs)
    assert list(table["finding"]) == [1, 2, 3, 4, 5, 6]
    assert set(table.columns) >= {"claim", "criterion", "measured", "value", "holds"}
    assert all(_holds(table).values()), table[["finding", "measured"]].to_string()
    # 6: every network with a level is selected at 0.92 (the last network has none).
    assert table.loc[5, "value"] == pytest.approx(0.92)
    assert "5 of 6 networks" in table.loc[5, "measured"]


@pytest.mark.parametrize(
    "flag, finding",
    [("converge", 1), ("rising", 3), ("level_off", 4), ("chains_negative", 5)],
)
def test_each_finding_fails_when_its_pattern_is_absent(flag, finding):
    pruning, motifs = synthetic_tables(**{flag: False})
    assert not _holds(findings.findings_table(pruning, motifs))[finding]


def test_finding_6_judges_the_nominal_fraction_of_a_rounded_level():
    # Per-layer rounding leaves a schedule's nominal 0.90 level at 0.89994: ">= 0.9" on the stored
    # fraction could never pass there (issue 22); the nominal fraction does, and both are shown.
    pruning, motifs = synthetic_tables(selected_level=6)  # FRACTIONS[6] = 0.9
    for table in (pruning, motifs):
        table.loc[table["fraction_pruned"] == 0.9, "fraction_pruned"] = 0.89994
    table = findings.findings_table(pruning, motifs)
    assert _holds(table)[6]
    assert "0.90 nominal (0.8999 after per-layer rounding)" in table.loc[5, "measured"]
    pruning.loc[pruning["fraction_pruned"] == 0.89994, "fraction_pruned"] = 0.8849  # nominal 0.88
    assert not _holds(findings.findings_table(pruning, motifs))[6]


def test_finding_6_fails_at_low_selected_sparsity():
    pruning, motifs = synthetic_tables(selected_level=4)  # 0.75 pruned
    table = findings.findings_table(pruning, motifs)
    assert not _holds(table)[6]
    assert table.loc[5, "value"] == pytest.approx(0.75)


def test_finding_2_fails_when_z_shrinks_with_sparsity(tables):
    pruning, motifs = tables
    shrunk = motifs.assign(z=motifs["z"] * (1.0 - motifs["fraction_pruned"]) ** 3)
    assert not _holds(findings.findings_table(pruning, shrunk))[2]


def test_only_accurate_levels_are_used(tables):
    pruning, motifs = tables
    rows = findings.accurate_rows(findings.select_motifs(motifs), pruning, "magnitude")
    assert rows["level"].max() == 7
    assert 5 not in set(rows["network"])  # the network with no selected level is left out


def test_at_selected_levels_keeps_each_networks_selected_level_only(tables):
    pruning, motifs = tables
    pruning = pruning.assign(selected=pruning["selected"] & ~((pruning["network"] == 1)
                                                              & (pruning["strategy"] == "random")))
    pruning.loc[(pruning["network"] == 1) & (pruning["strategy"] == "random")
                & (pruning["level"] == 3), "selected"] = True
    for strategy, level_of_1 in (("magnitude", 7), ("random", 3)):
        got = findings.at_selected_levels(motifs, pruning, strategy)
        # Independent: a row is kept iff its (network, level) is a selected row of that strategy.
        sel = {(n, l) for n, l, s, k in pruning[["network", "level", "strategy", "selected"]]
               .itertuples(index=False) if s == strategy and k}
        want = motifs[[s == strategy and (n, l) in sel for n, l, s in
                       motifs[["network", "level", "strategy"]].itertuples(index=False)]]
        pd.testing.assert_frame_equal(got, want.reset_index(drop=True))
        assert set(got.loc[got["network"] == 1, "level"]) == {level_of_1}
        assert 5 not in set(got["network"])  # never under the threshold
    none = findings.at_selected_levels(motifs, pruning.assign(selected=False))
    assert none.empty and list(none.columns) == list(motifs.columns)
    with pytest.raises(ValueError, match=r"table: the table lacks columns \['level'\]"):
        findings.at_selected_levels(motifs.drop(columns="level"), pruning)


def test_relative_spread_matches_hand_computation():
    z = {0: [1.0, 3.0], 1: [2.0, 2.0]}  # level -> z of the two networks for motif m
    rows = [
        dict(network=n, level=lv, fraction_pruned=lv / 10, motif=m, z=z[lv][n] * k)
        for lv in z for n in range(2) for m, k in (("diverging2", 1.0), ("bifan", -2.0))
    ]
    out = findings.relative_spread(pd.DataFrame(rows)).set_index("level")
    assert out.loc[0, "relative_spread"] == pytest.approx(np.std([1, 3], ddof=1) / 2)
    assert out.loc[1, "relative_spread"] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(0, 10_000))
def test_profile_correlation_equals_slow_pairwise_median(n_networks, seed):
    rng = np.random.default_rng(seed)
    rows = [
        dict(network=n, level=0, fraction_pruned=0.5, motif=m, sp=rng.standard_normal())
        for n in range(n_networks) for m in findings.ZSCORED_MOTIFS
    ]
    df = pd.DataFrame(rows)
    fast = findings.profile_correlation(df)["profile_correlation"].iloc[0]
    vectors = [df[df.network == n].set_index("motif").loc[list(findings.ZSCORED_MOTIFS), "sp"]
               for n in range(n_networks)]
    slow = np.median([np.corrcoef(a, b)[0, 1] for a, b in itertools.combinations(vectors, 2)])
    assert fast == pytest.approx(slow)


def test_identical_profiles_correlate_perfectly(tables):
    _, motifs = tables
    one = findings.select_motifs(motifs)
    same = one.assign(sp=one.groupby(["level", "motif"])["sp"].transform("first"))
    corr = findings.profile_correlation(same)["profile_correlation"]
    assert np.allclose(corr, 1.0)


def test_bad_tables_raise_clear_errors(tables):
    pruning, motifs = tables
    with pytest.raises(ValueError, match=r"pruning: the table lacks columns \['selected'\]"):
        findings.findings_table(pruning.drop(columns="selected"), motifs)
    with pytest.raises(ValueError, match="no motif rows"):
        findings.findings_table(pruning, motifs, null_model="nope")



def test_no_accurate_network_leaves_every_finding_undecided(tables):
    pruning, motifs = tables
    table = findings.findings_table(pruning.assign(selected=False), motifs)
    assert list(table["finding"]) == [1, 2, 3, 4, 5, 6] and not table["holds"].any()
    assert table["measured"].str.contains("undecided: 0 of 6 networks").all()
    empty = findings.findings_table(pruning.assign(selected=False), motifs.iloc[:0])
    assert not empty["holds"].any()
    assert findings.similarity_by_level(motifs.iloc[:0]).empty


# -- chain counts: exact paths against the seed's connected-pair definition ------------------

def _slow_chains(weight_masks, bias_masks):
    """Enumerate every path and every connected endpoint pair node by node."""
    layers = [w.shape[1] for w in weight_masks] + [weight_masks[-1].shape[0]]
    succ = {}  # (layer, node) -> list of (layer+1, node); node -1 is the bias node
    for l, w in enumerate(weight_masks):
        for i in range(-1 if bias_masks is not None else 0, layers[l]):
            succ[(l, i)] = [
                (l + 1, o) for o in range(layers[l + 1])
                if (bias_masks[l][o] if i == -1 else w[o, i])
            ]
    out = {}
    for order, name in ((2, "chain2"), (3, "chain3")):
        paths, pairs = 0, set()
        for start in succ:
            frontier = [[start]]
            for _ in range(order):
                frontier = [p + [n] for p in frontier for n in succ.get(p[-1], []) if n[1] >= 0]
            paths += len(frontier)
            pairs |= {(p[0], p[-1]) for p in frontier}
        out[name] = (paths, len(pairs))
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100_000), st.booleans())
def test_chain_counts_match_enumeration(seed, with_bias):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, size=rng.integers(3, 6))
    density = rng.uniform(0.2, 0.9)
    weights = [rng.random((sizes[l + 1], sizes[l])) < density for l in range(len(sizes) - 1)]
    biases = [rng.random(sizes[l + 1]) < density for l in range(len(sizes) - 1)]
    biases = biases if with_bias else None
    slow = _slow_chains(weights, biases)
    exact = motifs.chain_counts(weights, biases, "paths")
    seed_def = motifs.chain_counts(weights, biases, "seed-pairs")
    for name in ("chain2", "chain3"):
        assert exact[name] == slow[name][0]
        assert seed_def[name] == slow[name][1]
        assert seed_def[name] <= exact[name]


def test_chain_counts_agree_with_golden_brute_force():
    import json
    from pathlib import Path

    cases = json.loads((Path(__file__).parent / "data" / "motif_counts.json").read_text())
    for case in cases:
        weights = [np.array(w, bool) for w in case["weight_masks"]]
        biases = None if case["bias_masks"] is None else [np.array(b, bool) for b in case["bias_masks"]]
        got = motifs.chain_counts(weights, biases)
        assert got["chain2"] == case["counts"]["chain2"]
        assert got["chain3"] == case["counts"]["chain3"]


def test_chain_counts_batched_leading_dims():
    rng = np.random.default_rng(1)
    weights = [rng.random((3, 5, 4)) < 0.5, rng.random((3, 6, 5)) < 0.5, rng.random((3, 2, 6)) < 0.5]
    biases = [rng.random((3, 5)) < 0.5, rng.random((3, 6)) < 0.5, rng.random((3, 2)) < 0.5]
    batched = motifs.chain_counts(weights, biases, "seed-pairs")
    for k in range(3):
        one = motifs.chain_counts([w[k] for w in weights], [b[k] for b in biases], "seed-pairs")
        assert batched["chain3"][k] == one["chain3"]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000))
def test_chain_paths_equal_count_motifs(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=rng.integers(2, 6))
    weights = [rng.random((3, sizes[l + 1], sizes[l])) < rng.uniform(0.1, 0.9) for l in range(len(sizes) - 1)]
    biases = [rng.random((3, sizes[l + 1])) < 0.5 for l in range(len(sizes) - 1)]
    paths = motifs.chain_counts(weights, biases, "paths")
    counted = motifs.count_motifs(weights, biases)
    for name in ("chain2", "chain3"):
        np.testing.assert_array_equal(paths[name], counted[name])


def test_chain_counts_reject_bad_masks():
    with pytest.raises(ValueError, match="binary"):
        motifs.chain_counts([np.full((2, 2), 2), np.ones((2, 2))])
    with pytest.raises(ValueError, match="has 3 inputs"):
        motifs.chain_counts([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="definition"):
        motifs.chain_counts([np.ones((2, 2))], definition="pairs")


def test_reference_tables_have_their_source_and_columns():
    z = reference.seed_zscores()
    assert {"motif", "fraction_pruned", "z_median", "seed_defective"} <= set(z.columns)
    assert z.loc[z.motif == "chain2", "seed_defective"].all()
    assert "arXiv:2403.00974" in reference.SOURCE
    losses = reference.seed_losses()
    assert losses["fraction_pruned"].iloc[0] == 0


def test_summarise_zscores_quartiles_by_hand():
    z = [1.0, 2.0, np.nan, 3.0, 4.0, np.inf, -1.0, 5.0]
    table = pd.DataFrame({
        "network": range(8), "motif": ["bifan"] * 6 + ["chain2"] * 2,
        "fraction_pruned": [0.5] * 6 + [0.9] * 2, "z": z,
    })
    got = reference.summarise_zscores(table).set_index("motif")
    assert list(got.columns) == ["fraction_pruned", "n_networks", "z_q25", "z_median", "z_q75"]
    # bifan: finite z 1, 2, 3, 4 (NaN and inf left out); linear quartiles at positions 0.75, 2.25.
    assert got.loc["bifan", "n_networks"] == 4
    assert got.loc["bifan", ["z_q25", "z_median", "z_q75"]].tolist() == [1.75, 2.5, 3.25]
    # chain2: -1 and 5; quartiles a quarter of the way in from each end.
    assert got.loc["chain2", ["z_q25", "z_median", "z_q75"]].tolist() == [0.5, 2.0, 3.5]


def test_compare_losses_summarises_ours_by_hand_and_stacks_the_seed():
    pruning = pd.DataFrame({
        "network": [0, 1, 2, 3, 0, 1, 2, 3], "fraction_pruned": [0.0] * 4 + [0.5] * 4,
        "val_loss": [1e-4, 2e-3, 5e-4, 1e-3, 4.0, 4.0, 4.0, 1e-5],
    })
    got = reference.compare_losses(pruning, "t", threshold=1e-3)
    ours = got[got["source"] == "mothlib (t)"].set_index("fraction_pruned")
    # Fraction 0: sorted 1e-4, 5e-4, 1e-3, 2e-3; three of four at or under 1e-3.
    np.testing.assert_allclose(
        ours.loc[0.0, ["val_loss_q25", "val_loss_median", "val_loss_q75", "share_under"]].to_numpy(float),
        [4e-4, 7.5e-4, 1.25e-3, 0.75], rtol=1e-12)
    np.testing.assert_allclose(
        ours.loc[0.5, ["val_loss_q25", "val_loss_median", "val_loss_q75", "share_under"]].to_numpy(float),
        [3.0000025, 4.0, 4.0, 0.25], rtol=1e-12)
    seed = got[got["source"] == "seed study"].drop(columns="source").reset_index(drop=True)
    expected = reference.seed_losses().rename(columns={"share_under_1e-3": "share_under"})
    pd.testing.assert_frame_equal(seed[list(expected.columns)], expected)


def test_compare_zscores_stacks_ours_and_seed(tables):
    _, motifs = tables
    both = reference.compare_zscores(findings.select_motifs(motifs), "smoke")
    assert set(both["source"]) == {"mothlib (smoke)", "seed study"}
    assert set(both["fraction_pruned"]) <= set(reference.seed_zscores()["fraction_pruned"])


def _fake_loader(n_networks=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [4, 6, 6, 3]
    cache = {}

    def load(strategy, level):
        if (strategy, level) not in cache:
            density = 0.9 - 0.1 * level
            w = [rng.random((n_networks, sizes[l + 1], sizes[l])) < density for l in range(3)]
            b = [rng.random((n_networks, sizes[l + 1])) < density for l in range(3)]
            cache[(strategy, level)] = (w, b)
        return cache[(strategy, level)]

    return load


def _small_pruning(n_networks=3, n_levels=4, selected=(2, 3, None)):
    rows = []
    for net in range(n_networks):
        for level in range(n_levels):
            rows.append(dict(network=net, strategy="magnitude", level=level,
                             fraction_pruned=0.2 * level, val_loss=0.1,
                             selected=selected[net] == level))
    return pd.DataFrame(rows)


def test_motif_count_table_matches_count_motifs_on_cleaned_masks():
    from mothlib.motifs.counts import count_motifs, remove_ineffectual

    load, pruning = _fake_loader(), _small_pruning()
    counts, removed = findings.motif_count_table(load, pruning)
    assert set(counts["level"]) == {0, 1, 2, 3} and "edges" in set(counts["motif"])
    w, b = load("magnitude", 3)
    one_w, one_b, _ = remove_ineffectual([m[1] for m in w], [m[1] for m in b])
    expected = count_motifs(one_w, one_b)
    got = counts[(counts.network == 1) & (counts.level == 3)].set_index("motif")["count"]
    assert {m: int(got[m]) for m in expected} == {m: int(v) for m, v in expected.items()}
    assert {"ghost", "dead", "layer"} <= set(removed.columns)


def test_chain_definition_table_values_match_enumeration(monkeypatch):
    import mothlib.motifs.nulls

    drawn = []  # the null samples of each (network, level), in the table's order
    real_sample_null = mothlib.motifs.nulls.sample_null

    def recording(*args, **kwargs):
        out = real_sample_null(*args, **kwargs)
        drawn.append(out)
        return out

    monkeypatch.setattr(mothlib.motifs.nulls, "sample_null", recording)
    load, pruning = _fake_loader(), _small_pruning()
    table = findings.chain_definition_table(load, pruning, n_null=6, seed=2)
    cells = list(dict.fromkeys(zip(table["network"], table["level"])))
    assert len(cells) == len(drawn) == 3 + 4  # network 0: levels 0-2, network 1: levels 0-3
    for (net, level), (null_w, null_b) in zip(cells, drawn):
        w, b = load("magnitude", level)
        # Independent oracles: the seed's iterative cleaning and path/pair enumeration.
        cw, cb = iterative_clean([m[net] for m in w], [m[net] for m in b])
        real = _slow_chains(cw, cb)
        nulls = [_slow_chains([m[k] for m in null_w], [m[k] for m in null_b]) for k in range(6)]
        rows = table[(table["network"] == net) & (table["level"] == level)]
        assert rows["fraction_pruned"].eq(0.2 * level).all()
        for definition, i in (("paths", 0), ("seed-pairs", 1)):
            for motif in ("chain2", "chain3"):
                row = rows[(rows["definition"] == definition) & (rows["motif"] == motif)].iloc[0]
                x = np.array([c[motif][i] for c in nulls], dtype=float)
                assert row["count"] == real[motif][i]
                assert row["null_mean"] == pytest.approx(x.mean())
                assert row["null_std"] == pytest.approx(x.std())
                if x.std() > 0:
                    assert row["z"] == pytest.approx((real[motif][i] - x.mean()) / x.std())
                else:
                    assert np.isnan(row["z"])


def test_chain_definition_table_uses_accurate_levels_and_both_definitions():
    load, pruning = _fake_loader(), _small_pruning()
    table = findings.chain_definition_table(load, pruning, n_null=5, seed=1)
    # network 0: levels 0-2, network 1: 0-3, network 2: none.
    assert sorted(table.groupby("network")["level"].max().items()) == [(0, 2), (1, 3)]
    assert set(table["definition"]) == {"paths", "seed-pairs"}
    wide = table.pivot_table(index=["network", "level", "motif"], columns="definition", values="count")
    assert (wide["seed-pairs"] <= wide["paths"]).all()
    again = findings.chain_definition_table(load, pruning, n_null=5, seed=1)
    pd.testing.assert_frame_equal(table, again)  # reproducible from the seed
    with pytest.raises(ValueError, match="n_null"):
        findings.chain_definition_table(load, pruning, n_null=1)
