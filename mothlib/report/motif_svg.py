"""Drawings of the eight motifs across layers, as SVG made from their edge patterns.

Edges of a layered network join consecutive layers only, so each pattern of
:data:`MOTIF_PATTERNS` (motifs.md) sits in fixed layers: a node's layer is that of its
predecessor plus one. :func:`motif_svg` places the nodes A-D in layer columns ``ℓ``,
``ℓ+1``, ... by that rule and draws the pattern's edges as arrows; :func:`all_motifs_svg`
puts the eight side by side (shown on the book's methods page and in chapter 5)::

    from IPython.display import SVG
    from mothlib.report.motif_svg import all_motifs_svg
    SVG(all_motifs_svg())
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from mothlib.motifs.counts import MOTIF_ORDER, SECOND_ORDER, THIRD_ORDER

__all__ = ["MOTIF_PATTERNS", "MOTIF_TITLES", "motif_layers", "motif_svg", "all_motifs_svg"]

#: Each motif's pattern, edges between its nodes A-D (motifs.md; counted by
#: :func:`mothlib.motifs.counts.count_motifs`).
MOTIF_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    "diverging2": (("A", "B"), ("A", "C")),
    "converging2": (("A", "C"), ("B", "C")),
    "chain2": (("A", "B"), ("B", "C")),
    "diverging3": (("A", "B"), ("A", "C"), ("A", "D")),
    "converging3": (("A", "D"), ("B", "D"), ("C", "D")),
    "chain3": (("A", "B"), ("B", "C"), ("C", "D")),
    "bifan": (("A", "C"), ("A", "D"), ("B", "C"), ("B", "D")),
    "biparallel": (("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")),
}
#: Reader names of the motifs.
MOTIF_TITLES: dict[str, str] = {
    "diverging2": "diverging (2nd order)",
    "converging2": "converging (2nd order)",
    "chain2": "chain (2nd order)",
    "diverging3": "diverging (3rd order)",
    "converging3": "converging (3rd order)",
    "chain3": "chain (3rd order)",
    "bifan": "bi-fan",
    "biparallel": "bi-parallel",
}

_PANEL_W, _PANEL_H = 170, 176  # one motif's panel, px
_TOP = 44  # room for the title and the layer names
_R = 11  # node radius
_FONT = "font-family:sans-serif"


def motif_layers(name: str) -> dict[str, int]:
    """Layer of each node of a motif, relative to its first layer (0 = layer l).

    Parameters
    ----------
    name : str
        One of :data:`MOTIF_PATTERNS`.

    Returns
    -------
    dict of str -> int
        Node (``"A"``...) -> layer offset; every edge goes from offset k to k + 1.

    Raises
    ------
    ValueError
        For an unknown motif name.
    """
    if name not in MOTIF_PATTERNS:
        raise ValueError(f"unknown motif {name!r}; the motifs are {list(MOTIF_PATTERNS)}")
    edges = MOTIF_PATTERNS[name]
    nodes = sorted({n for edge in edges for n in edge})
    targets = {b for _, b in edges}
    layer = {n: 0 for n in nodes if n not in targets}
    while len(layer) < len(nodes):  # patterns are tiny: propagate until every node is placed
        for a, b in edges:
            if a in layer:
                layer[b] = layer[a] + 1
    for a, b in edges:
        if layer[b] != layer[a] + 1:  # cannot happen in a layered network
            raise ValueError(f"{name}: edge {a}->{b} does not join consecutive layers")
    return dict(sorted(layer.items()))


def _layer_name(offset: int) -> str:
    return "\u2113" if offset == 0 else f"\u2113+{offset}"  # script l: not read as 1 or I


def _panel(name: str, x0: float, y0: float) -> list[str]:
    """SVG elements of one motif's panel with its top-left corner at (x0, y0)."""
    layer = motif_layers(name)
    n_cols = max(layer.values()) + 1
    margin = 24 if n_cols > 2 else 42
    step = (_PANEL_W - 2 * margin) / max(n_cols - 1, 1)
    col_x = {k: x0 + margin + step * k for k in range(n_cols)}
    pos: dict[str, tuple[float, float]] = {}
    for k in range(n_cols):
        column = [n for n in layer if layer[n] == k]
        span = _PANEL_H - _TOP - 2 * _R - 30  # leave room for the caption below
        for i, node in enumerate(column):
            y = y0 + _TOP + _R + (span * (i + 0.5) / len(column))
            pos[node] = (col_x[k], y)
    out = [
        f'<g class="motif" data-motif="{name}">',
        f'<title>{escape(MOTIF_TITLES[name])}: '
        f'{escape(", ".join(f"{a}->{b}" for a, b in MOTIF_PATTERNS[name]))}</title>',
        f'<text x="{x0 + _PANEL_W / 2:.1f}" y="{y0 + 14:.1f}" text-anchor="middle" '
        f'style="{_FONT};font-size:12px;font-weight:bold">{escape(MOTIF_TITLES[name])}</text>',
    ]
    for k in range(n_cols):
        out.append(
            f'<text class="layer" x="{col_x[k]:.1f}" y="{y0 + 32:.1f}" text-anchor="middle" '
            f'style="{_FONT};font-size:10px;fill:#555">{_layer_name(k)}</text>'
        )
    for a, b in MOTIF_PATTERNS[name]:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        dx, dy = xb - xa, yb - ya
        length = (dx * dx + dy * dy) ** 0.5
        ux, uy = dx / length, dy / length
        # Start and end on the circles, the end a little short so the arrow head shows.
        out.append(
            f'<line class="edge" data-edge="{a}{b}" x1="{xa + ux * _R:.1f}" y1="{ya + uy * _R:.1f}" '
            f'x2="{xb - ux * (_R + 1):.1f}" y2="{yb - uy * (_R + 1):.1f}" stroke="#333" '
            f'stroke-width="1.6" marker-end="url(#mothlib-motif-arrow)"/>'
        )
    for node, (x, y) in pos.items():
        out.append(
            f'<circle class="node" data-node="{node}" cx="{x:.1f}" cy="{y:.1f}" r="{_R}" '
            f'fill="#e8eef7" stroke="#1f4e8c" stroke-width="1.5"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
            f'style="{_FONT};font-size:11px">{node}</text>'
        )
    # The caption states in words which layer each node lies in.
    groups = [", ".join(n for n in layer if layer[n] == k) + f" in {_layer_name(k)}"
              for k in range(n_cols)]
    out.append(
        f'<text class="caption" x="{x0 + _PANEL_W / 2:.1f}" y="{y0 + _PANEL_H - 8:.1f}" '
        f'text-anchor="middle" style="{_FONT};font-size:10px">{escape("; ".join(groups))}</text>'
    )
    out.append("</g>")
    return out


_NOTE = ("Columns are consecutive layers \u2113, \u2113+1, ...; each arrow is a kept weight "
         "(a source may also be a layer's bias node).")


def _svg(names: list[str], columns: int) -> str:
    rows = -(-len(names) // columns)
    note = len(names) > 1  # the key under the grid of all motifs
    width, height = _PANEL_W * columns, _PANEL_H * rows + (20 if note else 0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" style="max-width:100%;height:auto" role="img">',
        "<defs><marker id=\"mothlib-motif-arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
        "markerUnits=\"userSpaceOnUse\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">"
        "<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#333\"/></marker></defs>",
    ]
    for i, name in enumerate(names):
        parts += _panel(name, _PANEL_W * (i % columns), _PANEL_H * (i // columns))
    if note:
        parts.append(f'<text class="note" x="{width / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                     f'style="{_FONT};font-size:11px;fill:#555">{escape(_NOTE)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def motif_svg(name: str) -> str:
    """One motif drawn across layers, as an SVG document.

    Parameters
    ----------
    name : str
        A motif of :data:`MOTIF_PATTERNS` (``"diverging2"`` ... ``"biparallel"``).

    Returns
    -------
    str
        SVG (``<svg ...>...</svg>``, 170 x 176 px, scales down to its container): nodes A-D as
        circles in layer columns headed ``ℓ``, ``ℓ+1``, ..., one arrow per edge, the motif's name
        on top and which layer each node lies in below ("A in ℓ; B, C in ℓ+1").

    Raises
    ------
    ValueError
        For an unknown motif name.
    """
    if name not in MOTIF_PATTERNS or MOTIF_ORDER.get(name, 1) < 2:
        raise ValueError(f"unknown motif {name!r}; the motifs are {list(MOTIF_PATTERNS)}")
    return _svg([name], 1)


def all_motifs_svg(columns: int = 4) -> str:
    """The eight motifs in one SVG: 2nd order first, then 3rd order, ``columns`` per row.

    Returns
    -------
    str
        SVG of ``columns`` x ceil(8 / columns) panels as drawn by :func:`motif_svg`, and a line
        saying what the columns and arrows are (680 px wide at 4 columns; it scales down to its
        container).
    """
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")
    return _svg([*SECOND_ORDER, *THIRD_ORDER], columns)
