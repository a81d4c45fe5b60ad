"""Command line: ``python -m mothlib study|book --profile P [--set key=value ...]``.

* ``study`` runs the study's stages (``--stages data,pruning,motifs``); current ones are skipped.
* ``book`` executes the notebooks with papermill (they run the stages) and builds the offline
  book into ``_build/html``.

``--set`` values are read as JSON literals (``--set n_null=200 --set hidden_sizes=[64,64,64,16]``),
falling back to strings (``--set device=cuda``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mothlib import motifs_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mothlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default="quick", help="smoke, quick or paper (default quick)")
    common.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a profile field (repeatable); values are JSON literals or strings",
    )
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    study = sub.add_parser("study", parents=[common], help="run the study's stages")
    study.add_argument(
        "--stages", default="data,pruning,motifs",
        help="comma-separated stages to run (default: all, in order)",
    )
    book = sub.add_parser("book", parents=[common], help="run the notebooks and build the book")
    book.add_argument(
        "--no-execute", action="store_true",
        help="build from the notebooks already executed into book/notebooks/",
    )
    motifs_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "motifs":
        return motifs_cli.run(args)
    from mothlib import pipeline
    from mothlib.profiles import get_profile

    try:
        overrides = pipeline.parse_overrides(args.overrides)
        if args.command == "study":
            profile = get_profile(args.profile, **overrides)
            stages = [s.strip() for s in args.stages.split(",") if s.strip()]
            manifests = pipeline.run_stages(profile, stages, progress=not args.no_progress)
            for stage, manifest in manifests.items():
                print(f"{stage}: {manifest['outputs']} ({manifest['seconds']} s when computed)")
        else:
            html = pipeline.make_book(
                args.profile, overrides, execute=not args.no_execute,
                progress=not args.no_progress,
            )
            print(f"book built: {html / 'index.html'}")
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
