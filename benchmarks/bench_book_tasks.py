"""Where make book's work goes: run the stages and chapters of a profile (pipeline.execute_study,
as make book does, without the book build) on a LocalCluster and print, from Dask's task stream,
each worker's busy seconds and the seconds of each kind of task.

    python benchmarks/bench_book_tasks.py                 # quick, into /tmp/mothlib-book-tasks
    python benchmarks/bench_book_tasks.py --profile smoke

Task keys name their kind: ``pruning-<strategy>`` counts every training round (the study's, the
training-length arms' and the digits study's), ``motifs-<strategy>`` the z-score tasks,
``length-<arm>`` the training-length z-scores, ``notebook-<chapter>`` a chapter.
"""
import contextlib
import time
from collections import defaultdict
from pathlib import Path
import mothlib.report.book as P
from mothlib.study.cluster import open_runner as real_open
from distributed import get_task_stream

rec = {}

@contextlib.contextmanager
def wrapped(*a, **k):
    with real_open(*a, **k) as runner:
        with get_task_stream(runner.client) as ts:
            yield runner
        rec["ts"] = ts.data

if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    P.open_runner = wrapped
    root = Path(tempfile.mkdtemp(prefix="mothlib-book-tasks-"))
    t0 = time.perf_counter()
    secs = P.execute_study(args.profile, artifacts_root=root / "artifacts", output_dir=root / "executed",
                           progress=False)
    wall = time.perf_counter() - t0
    busy = defaultdict(float); kinds = defaultdict(float); count = defaultdict(int)
    starts, stops = [], []
    for t in rec["ts"]:
        for s in t["startstops"]:
            if s["action"] == "compute":
                d = s["stop"] - s["start"]
                busy[t["worker"]] += d
                kind = t["key"].split("-")[0] + "-" + t["key"].split("-")[1] if t["key"].startswith(("pruning", "length", "motifs", "notebook")) else t["key"].split("-")[0]
                kinds[kind] += d; count[kind] += 1
                starts.append(s["start"]); stops.append(s["stop"])
    print("wall", round(wall, 1), "first task start to last stop", round(max(stops) - min(starts), 1))
    for w, b in busy.items(): print(w, "busy", round(b, 1))
    for k in sorted(kinds, key=lambda k: -kinds[k]): print(f"{k:40s} {count[k]:4d} tasks {kinds[k]:8.1f} s")
    print(secs)
