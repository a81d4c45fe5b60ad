"""The motif drawings: valid SVG, drawn from the definitions that the counts compute."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from mothlib.motifs.counts import MOTIFS, count_motifs
from mothlib.report.motif_svg import MOTIF_PATTERNS, all_motifs_svg, motif_layers, motif_svg

sys.path.insert(0, str(Path(__file__).parent))
from _nets import PATTERNS, random_masks  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def test_patterns_are_the_counted_motifs():
    # The oracle's patterns are checked against count_motifs by enumeration in test_motifs.py.
    assert set(MOTIF_PATTERNS) == set(MOTIFS) - {"edges"}
    for name, edges in MOTIF_PATTERNS.items():
        assert sorted(edges) == sorted(PATTERNS[name]), name


def _count_by_pattern(ws, bs, edges) -> int:
    """Subgraphs of the network isomorphic to the pattern, by brute force over node maps."""
    import itertools

    nodes = sorted({n for e in edges for n in e})
    layer = motif_layers_of(edges)
    # Network nodes per layer: neurons (l, i) and the bias node ("b", l) of non-output layers.
    sizes = [ws[0].shape[1]] + [w.shape[0] for w in ws]
    members = {l: [(l, i) for i in range(n)] + ([("b", l)] if l < len(ws) else []) for l, n in enumerate(sizes)}

    def edge(a, b):
        la = a[1] if a[0] == "b" else a[0]
        if b[0] == "b" or b[0] != la + 1:
            return False
        return bool(bs[la][b[1]]) if a[0] == "b" else bool(ws[la][b[1], a[1]])

    total, autos = 0, 0
    for perm in itertools.permutations(nodes):
        mapping = dict(zip(nodes, perm))
        autos += {(mapping[a], mapping[b]) for a, b in edges} == set(edges)
    for start in range(len(sizes)):
        if start + max(layer.values()) >= len(sizes):
            continue
        pools = [members[start + layer[n]] for n in nodes]
        for choice in itertools.product(*pools):
            if len(set(choice)) < len(choice):
                continue
            image = dict(zip(nodes, choice))
            total += all(edge(image[a], image[b]) for a, b in edges)
    assert total % autos == 0
    return total // autos


def motif_layers_of(edges):
    layer = {n: 0 for n in {a for a, _ in edges} - {b for _, b in edges}}
    while len(layer) < len({n for e in edges for n in e}):
        for a, b in edges:
            if a in layer:
                layer[b] = layer[a] + 1
    return layer


@pytest.mark.parametrize("seed", range(4))
def test_drawn_patterns_count_what_count_motifs_counts(seed):
    rng = np.random.default_rng(seed)
    ws, bs = random_masks(rng, [3, 3, 2, 3, 2], density=0.6)
    counts = count_motifs(ws, bs)
    for name, edges in MOTIF_PATTERNS.items():
        assert _count_by_pattern(ws, bs, edges) == int(counts[name]), name


@pytest.mark.parametrize("name", list(MOTIF_PATTERNS))
def test_each_motif_svg_has_its_nodes_edges_and_layers(name):
    root = ET.fromstring(motif_svg(name))  # valid XML
    assert root.tag == f"{SVG}svg"
    edges = MOTIF_PATTERNS[name]
    nodes = {n for e in edges for n in e}
    circles = root.findall(f".//{SVG}circle")
    lines = root.findall(f".//{SVG}line")
    assert sorted(c.get("data-node") for c in circles) == sorted(nodes)
    assert sorted(ln.get("data-edge") for ln in lines) == sorted(a + b for a, b in edges)
    assert all(ln.get("marker-end") for ln in lines)  # arrows
    # Every edge goes one column to the right: from layer k to layer k + 1.
    x = {c.get("data-node"): float(c.get("cx")) for c in circles}
    layers = motif_layers(name)
    for a, b in edges:
        assert layers[b] == layers[a] + 1 and x[b] > x[a]
    # The layers are named, in the column heads and in the caption for each node.
    heads = [t.text for t in root.findall(f".//{SVG}text[@class='layer']")]
    assert heads == ["\u2113"] + [f"\u2113+{k}" for k in range(1, max(layers.values()) + 1)]
    caption = root.find(f".//{SVG}text[@class='caption']").text
    for node, k in layers.items():
        where = "\u2113" if k == 0 else f"\u2113+{k}"
        group = next(g for g in caption.split("; ") if g.endswith(f" in {where}"))
        assert node in group.split(" in ")[0].split(", "), (name, caption)


def test_all_motifs_in_one_svg():
    root = ET.fromstring(all_motifs_svg())
    panels = root.findall(f".//{SVG}g[@class='motif']")
    assert [p.get("data-motif") for p in panels] == [m for m in MOTIFS if m != "edges"]
    assert len(root.findall(f".//{SVG}line")) == sum(len(e) for e in MOTIF_PATTERNS.values())
    assert float(root.get("width")) <= 704  # fits the book's text column
    assert root.find(f".//{SVG}text[@class='note']") is not None


def test_unknown_motif_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown motif 'edges'"):
        motif_svg("edges")
    with pytest.raises(ValueError, match="unknown motif 'bifans'"):
        motif_layers("bifans")
    with pytest.raises(ValueError, match="columns"):
        all_motifs_svg(0)
