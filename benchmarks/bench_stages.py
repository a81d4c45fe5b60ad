"""Per-stage wall time of a profile on a local Dask cluster with 1 and with 2 (or more) workers.

Each worker count runs the whole study from an empty artifact folder (same profile, same seeds),
checks that the results are identical to the first count's, and prints each stage's time and
the speed-up over the first count.

    python benchmarks/bench_stages.py                       # quick profile, 1 and 2 workers
    python benchmarks/bench_stages.py --profile smoke --workers 1,2 --stages data,pruning
    python benchmarks/bench_stages.py --set max_batches_dense=1200 \
        --set 'max_batches_per_round={"magnitude": 500, "random": 200}'   # quick at 1/5 of the batches

The stages run one after another here (each timed alone); ``make book`` runs independent ones
side by side.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from mothlib.study import stages
from mothlib.study.cluster import open_runner
from mothlib.report.book import parse_overrides
from mothlib.study.profiles import get_profile
from mothlib.study.store import ArtifactStore


def run(profile: dict, names: list[str], workers: int, root: Path) -> dict[str, float]:
    store = ArtifactStore(profile["profile"], root)
    seconds = {}
    with open_runner("local", n_workers=workers) as runner:
        for name in names:
            started = time.perf_counter()
            stages.run(name, profile, store, runner, progress=False)
            seconds[name] = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--stages", default="data,pruning,motifs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="profile override, as for python -m mothlib study")
    args = parser.parse_args()
    profile = get_profile(args.profile, **parse_overrides(args.overrides))
    names = [s for s in args.stages.split(",") if s]
    counts = [int(w) for w in args.workers.split(",")]
    rows, hashes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in counts:
            root = Path(tmp) / f"w{w}"
            seconds = run(profile, names, w, root)
            store = ArtifactStore(profile["profile"], root)
            hashes[w] = {n: store.require(n)["outputs_hash"] for n in names if n != "data"}
            rows += [dict(stage=n, workers=w, seconds=round(s, 1)) for n, s in seconds.items()]
            print(f"{w} worker(s): " + ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items()), flush=True)
    table = pd.DataFrame(rows).pivot(index="stage", columns="workers", values="seconds").loc[names]
    table.loc["total"] = table.sum()
    base = counts[0]
    for w in counts[1:]:
        table[f"speed-up {w} vs {base}"] = (table[base] / table[w]).round(2)
    print(table.to_string())
    same = all(hashes[w] == hashes[base] for w in counts)
    print(f"results identical across worker counts: {same}")


if __name__ == "__main__":
    main()
