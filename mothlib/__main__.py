"""Command line: ``python -m mothlib study|book|verify --profile P [--set key=value ...]``.

* ``study`` runs the study's stages (``--stages data,pruning,motifs``) as Dask tasks, on a local
  cluster (one single-threaded worker per core) unless ``--scheduler`` names another
  (``none`` runs in this process; an address such as ``tcp://host:8786`` joins a running
  scheduler, e.g. a dask-jobqueue SLURM cluster). Current stages are skipped. ``--estimate``
  times a small slice on the cluster and projects each stage of the full profile.
* ``book`` runs the stages the same way, executes the notebooks with papermill (they find the
  stages current) and builds the offline book into ``_build/html``. It needs a checkout of the
  repository (``--repo``, else the working directory, else the one mothlib is imported from).

Artifacts go under ``$MOTHLIB_ARTIFACTS``, else ``./artifacts``.
* ``verify`` re-hashes every artifact against its manifest; a damaged stage is reported by file
  and will be recomputed by the next run.

``--set`` values are read as JSON literals (``--set n_null=200 --set hidden_sizes=[64,64,64,16]``),
falling back to strings (``--set device=cuda``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mothlib.cli import motifs as motifs_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mothlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", default="quick", help="smoke, quick, paper, digits_smoke or digits_quick (default quick)")
    common.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a profile field (repeatable); values are JSON literals or strings",
    )
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    cluster = argparse.ArgumentParser(add_help=False)
    cluster.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="'local' (default: a LocalCluster, one worker per core), 'none' (this process), or "
             "a Dask scheduler address; default from $MOTHLIB_SCHEDULER or Dask's config",
    )
    cluster.add_argument("--workers", type=int, default=None, help="workers of a local cluster")
    study = sub.add_parser("study", parents=[common, cluster], help="run the study's stages")
    study.add_argument(
        "--stages", default="data,pruning,motifs",
        help="comma-separated stages to run (default: all, in order)",
    )
    study.add_argument(
        "--estimate", action="store_true",
        help="time a small slice on the cluster and print each stage's projected time",
    )
    book = sub.add_parser("book", parents=[common, cluster], help="run the study and build the book")
    book.add_argument(
        "--no-execute", action="store_true",
        help="build from the notebooks already executed into book/notebooks/",
    )
    book.add_argument(
        "--repo", default=None, metavar="PATH",
        help="the repository checkout to build (default: the working directory, else the one "
             "mothlib is imported from); an installed mothlib has no notebooks",
    )
    sub.add_parser("verify", parents=[common], help="re-hash every artifact against its manifest")
    motifs_cli.add_parser(sub)
    return parser


def pd_options():
    import pandas as pd

    return pd.option_context("display.max_colwidth", 120, "display.width", 200)


def _verify(profile: Mapping[str, Any]) -> int:
    from mothlib.study.stages import verify

    status = 0
    for stage, bad in verify(profile).items():
        if bad is None:
            print(f"{stage}: not run")
        elif bad:
            status = 1
            print(f"{stage}: DAMAGED ({len(bad)} file(s)); it will be recomputed by the next run:")
            for rel in bad:
                print(f"  {rel}")
        else:
            print(f"{stage}: ok")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "motifs":
        return motifs_cli.run(args)
    from mothlib.report import book as pipeline
    from mothlib.study.profiles import get_profile

    try:
        overrides = pipeline.parse_overrides(args.overrides)
        profile = get_profile(args.profile, **overrides)
        if args.command == "verify":
            return _verify(profile)
        if args.command == "study":
            stages = [s.strip() for s in args.stages.split(",") if s.strip()]
            if args.estimate:
                from mothlib.study.estimate import estimate_profile

                table = estimate_profile(profile, scheduler=args.scheduler, n_workers=args.workers)
                print(f"Projected time of the {args.profile} profile on {table.attrs['workers']} worker(s), "
                      "from a small slice timed on them:")
                with pd_options():
                    print(table.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
                total = table["projected_hours"].sum()
                print(f"total: {total:.2f} h on these workers, "
                      f"{table['projected_hours_one_worker'].sum():.2f} h on one")
                return 0
            seconds = pipeline.run_study(
                profile, stages, scheduler=args.scheduler, n_workers=args.workers,
                progress=not args.no_progress,
            )
            for stage, (sec, now) in seconds.items():
                print(f"{stage}: {sec:.1f} s ({'computed now' if now else 'current, reused'})")
        else:
            run = pipeline.make_book(
                args.profile, overrides, execute=not args.no_execute,
                progress=not args.no_progress, scheduler=args.scheduler, n_workers=args.workers,
                repo=args.repo,
            )
            print(run.report())
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
