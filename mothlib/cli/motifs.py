"""The ``motifs`` subcommand: motif counts and z-scores of a network saved by its user.

``python -m mothlib motifs model.safetensors --null both --n-null 1000`` reads the file with
:func:`mothlib.networks.netfile.read_network` (safetensors, or a state dict loaded with
``weights_only=True``), runs :func:`mothlib.motifs.significance.motif_zscores` once per null model with
the same seed, prints one table per null model and optionally writes all rows to ``--out``
(.parquet, .csv or .json). Bad input ends with one line ``error: ...`` and exit status 2. Every
tensor of the file outside the chain of linear layers (a convolution, a norm, a buffer) is listed
on stderr after a ``warning:`` line that says whether the counted network is only part of the file's.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run", "OUT_FORMATS", "NULL_CHOICES"]

NULL_CHOICES = ("layer-edges", "degree-preserving", "both")
OUT_FORMATS = (".parquet", ".csv", ".json")
#: Columns of the ``--out`` table: the null model and sample size, then motif_zscores's columns.
OUT_COLUMNS = [
    "null_model", "n_null", "motif", "count", "null_mean", "null_std", "z", "p_value", "sp", "z_note",
]


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _one_line_error(message: str) -> None:
    """argparse's error, as the one line ``error: ...`` (no usage block), exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``motifs`` on an ``argparse`` subparsers object and return its parser."""
    parser = subparsers.add_parser(
        "motifs",
        help="count motifs of a saved network and test them against null models",
        description=(
            "Count the motifs of a network saved as safetensors or as a PyTorch state dict "
            "(torch.save(model.state_dict(), path)) and compute their z-scores against null models."
        ),
    )
    parser.error = _one_line_error  # one clear line, no usage dump
    parser.add_argument("file", metavar="FILE", help="a .safetensors file or a torch.save'd state dict")
    parser.add_argument(
        "--null", choices=NULL_CHOICES, default="layer-edges",
        help="null model (default layer-edges; both runs the two with the same seed)",
    )
    parser.add_argument(
        "--n-null", type=_non_negative_int, default=1000, help="null networks per null model (default 1000)"
    )
    parser.add_argument("--seed", type=_int, default=0, help="seed of the null sample (default 0)")
    parser.add_argument(
        "--no-clean", action="store_true",
        help="keep ghost and dead neurons (by default they are removed first, as in the study)",
    )
    parser.add_argument("--device", default=None, help="torch device for counting the nulls, e.g. cuda")
    parser.add_argument(
        "--layers", default=None, metavar="A,B,C",
        help="the linear layers (key prefixes) in order, when the file's order is ambiguous",
    )
    parser.add_argument("--out", default=None, metavar="FILE", help="also write the table (.parquet, .csv or .json)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def _fmt(x: Any, digits: int = 3) -> str:
    """A number in fixed point with ``digits`` decimals, whatever its size (never ``9e+05``); NaN is "-"."""
    if isinstance(x, float):
        if math.isnan(x):
            return "-"
        return f"{x:.{digits}f}"
    return str(x)


def _format_table(df: Any) -> str:
    """One null model's rows as an aligned text table."""
    head = ["motif", "count", "null mean", "null std", "z", "p", "sp", "note"]
    rows = [
        [
            r.motif, str(r.count), _fmt(float(r.null_mean), 1), _fmt(float(r.null_std), 1),
            _fmt(float(r.z), 2), _fmt(float(r.p_value), 3), _fmt(float(r.sp), 3), r.z_note,
        ]
        for r in df.itertuples()
    ]
    widths = [max(len(row[i]) for row in [head] + rows) for i in range(len(head) - 1)]
    lines = []
    for row in [head] + rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:-1], widths[1:])]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    return "\n".join(lines)


def _write(df: Any, out: Path) -> None:
    from mothlib.study.store import atomic_write

    suffix = out.suffix.lower()
    if suffix == ".parquet":
        with atomic_write(out) as handle:
            df.to_parquet(handle, index=False)
    elif suffix == ".csv":
        with atomic_write(out, "w") as handle:
            df.to_csv(handle, index=False)
    else:
        with atomic_write(out, "w") as handle:
            df.to_json(handle, orient="records", indent=2, double_precision=15)


def _describe(net: Any) -> str:
    names = [name or "(bare layer)" for name in net.layers]
    how = {"keys": "in key order", "shapes": "ordered by their shapes", "--layers": "as given by --layers"}
    layers = ", ".join(f"{n} {w.shape[1]}->{w.shape[0]}" for n, w in zip(names, net.weight_masks))
    biases = sum(b is not None for b in net.bias_masks)
    return (
        f"{net.path} ({net.format}): {len(names)} linear layers {how[net.order_from]}: {layers}; "
        f"{biases} with bias"
    )


def _warn_skipped(net: Any) -> None:
    """List on stderr every tensor of the file that is not counted, and say what that means."""
    if not net.skipped:
        return
    n = len(net.skipped)
    chain = ", ".join(name or "(bare layer)" for name in net.layers)
    if net.partial:
        head = (
            f"warning: {net.path}: {n} tensor(s) are not part of the chain of linear layers and are NOT counted; "
            f"the motifs below describe only the linear layers {chain}, not the whole network "
            "(layers of other kinds have no motifs here):"
        )
    else:
        head = (
            f"warning: {net.path}: {n} tensor(s) are not part of the chain of linear layers and are not counted "
            "(none carries connections between neurons):"
        )
    lines = [head] + [f"  skipped {t.key} {tuple(t.shape)}: {t.reason}" for t in net.skipped]
    print("\n".join(lines), file=sys.stderr)


def _compute(args: argparse.Namespace) -> tuple[Any, Any]:
    """Read the network and run motif_zscores per null model; the network and the table."""
    from mothlib.networks.netfile import read_network

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in OUT_FORMATS:
        raise ValueError(f"--out: unknown suffix {out.suffix or '(none)'!r}; use one of {', '.join(OUT_FORMATS)}")
    layers = None
    if args.layers is not None:
        layers = [name.strip() for name in args.layers.split(",")]
    net = read_network(args.file, layers)
    print(_describe(net))
    sys.stdout.flush()  # the warning follows the description in a terminal
    _warn_skipped(net)
    # Imported only now, so that a bad file or option fails fast (torch and numba load slowly).
    import numpy as np
    import pandas as pd

    from mothlib.motifs.counts import remove_ineffectual
    from mothlib.motifs.significance import motif_zscores

    ws, bs = net.weight_masks, net.bias_masks
    bias = None if all(b is None for b in bs) else bs
    if not args.no_clean:
        _, _, report = remove_ineffectual(ws, bias)
        edges = int(sum(w.sum() for w in ws)) + int(sum(0 if b is None else b.sum() for b in bs))
        print(
            f"{edges} edges (bias edges included); cleaning removes {int(report['ghost'].sum())} ghost and "
            f"{int(report['dead'].sum())} dead hidden neurons (--no-clean keeps them)"
        )
    nulls = ["layer-edges", "degree-preserving"] if args.null == "both" else [args.null]
    parts = []
    for null in nulls:
        df = motif_zscores(
            ws, bias, n_null=args.n_null, null_model=null, seed=args.seed, clean=not args.no_clean,
            device=args.device, progress=not args.no_progress,
        )
        print(f"\nnull model {null}: {args.n_null} samples, seed {args.seed}")
        print(_format_table(df))
        df.insert(0, "n_null", args.n_null)
        df.insert(0, "null_model", null)
        parts.append(df)
    table = pd.concat(parts, ignore_index=True)[OUT_COLUMNS]
    table["count"] = table["count"].astype(np.int64)
    if out is not None:
        _write(table, out)
        print(f"\nwrote {out}")
    return net, table


def run(args: argparse.Namespace) -> int:
    """Run the ``motifs`` subcommand; 0 on success, 2 (after one ``error:`` line) on bad input."""
    try:
        _compute(args)
    except (ValueError, FileNotFoundError, OSError) as err:
        message = " ".join(str(err).split())  # one line, whatever the source's line breaks
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0
