"""The stages' one checkpointed task loop: submit tasks, write each result as it arrives, resume.

A stage's long work is a set of tasks, each a pure function of its arguments. :func:`checkpointed_map`
submits them through a :class:`~mothlib.study.cluster.Runner`, and the client writes every result to
its checkpoint file in the stage's scratch folder as it arrives (atomically, in completion order),
so a killed client keeps every finished task. On a rerun with the same folder a task whose
checkpoint file is present is read back instead of run. A finished task may queue follow-up tasks
(``on_result``): the pruning stage's chains, where each level starts from the one before.

The pruning, motif and training-length stages run their tasks through it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from mothlib.study.cluster import Runner
from mothlib.study.store import atomic_write

__all__ = ["Task", "task_key", "checkpointed_map", "save_table", "load_table", "label_table"]


def task_key(name: str) -> str:
    """The Dask key of a task called ``name``: the name and a random suffix.

    The suffix keeps a rerun from colliding with a lost future of the same name that the
    scheduler still knows (a client killed mid-stage leaves its tasks behind).
    """
    return f"{name}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Task:
    """One task of :func:`checkpointed_map`.

    Attributes
    ----------
    name : str or tuple of str
        Its checkpoint file, relative to the loop's folder: a stable name, the same in every run.
        A tuple for a task whose function returns a sequence of results, one file per result in
        the same order.
    fn : callable, optional
        The task, run as ``fn(*args, **kwargs)`` on a worker. None for a result the caller
        knows to be finished (its checkpoint present), only to be read back.
    args : tuple
    kwargs : mapping
    key : str, optional
        The stem of its Dask key (its label on the dashboard; :func:`task_key` adds the suffix).
        Default: the first file's path without its suffix, ``/`` read as ``-``.
    meta : any
        The caller's, handed to ``prepare`` with each result (for a tuple ``name``: a sequence
        aligned with it).
    rerun : bool
        Run it even when its checkpoint file is present: for a chain of tasks that overwrite one
        checkpoint (the caller resumes the chain from it and queues only the tasks still to run).
    """

    name: str | tuple[str, ...]
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    key: str | None = None
    meta: Any = None
    rerun: bool = False

    @property
    def files(self) -> tuple[str, ...]:
        """Its checkpoint files (one per result)."""
        return self.name if isinstance(self.name, tuple) else (self.name,)

    @property
    def many(self) -> bool:
        """Whether its function returns a sequence of results (a tuple ``name``)."""
        return isinstance(self.name, tuple)

    def label(self) -> str:
        """The stem of its Dask key."""
        return self.key or Path(self.files[0]).with_suffix("").as_posix().replace("/", "-")


def save_table(path: Path, table: pd.DataFrame) -> None:
    """Write a table checkpoint (Parquet, index kept) atomically."""
    with atomic_write(path) as handle:
        table.to_parquet(handle)


def load_table(path: Path) -> pd.DataFrame:
    """Read a table checkpoint written by :func:`save_table`."""
    return pd.read_parquet(path)


def label_table(table: pd.DataFrame, columns: Mapping[str, Any]) -> pd.DataFrame:
    """``table`` with constant ``columns`` inserted first, in order (in place; returned)."""
    for i, (name, value) in enumerate(columns.items()):
        table.insert(i, name, value)
    return table


def checkpointed_map(
    runner: Runner,
    tasks: Iterable[Task],
    folder: str | Path,
    *,
    desc: str,
    progress: bool = True,
    unit: str = "task",
    save: Callable[[Path, Any], None] = save_table,
    load: Callable[[Path], Any] = load_table,
    prepare: Callable[[Any, Any], Any] | None = None,
    on_result: Callable[[Task, Any], Iterable[Task] | None] | None = None,
    postfix: Callable[[Any], Mapping[str, Any] | None] | None = None,
    total: int | None = None,
    initial: int = 0,
    keep: bool = True,
) -> list[Any]:
    """Run ``tasks`` through ``runner``, checkpointing every result in ``folder``.

    Every task is submitted (with the key :func:`task_key` of its label) unless its checkpoint
    files are all present, in which case they are read back with ``load``. Only once ``tasks``
    is exhausted are results collected, as they finish: each is passed through ``prepare``,
    written with ``save`` (which must write atomically: a file present is a finished result) and
    handed to ``on_result``, whose follow-up tasks are started the same way. ``tasks`` may be a
    generator that does other work between tasks: what it has yielded runs meanwhile.

    Parameters
    ----------
    runner : Runner
    tasks : iterable of Task
    folder : path
        The stage's scratch folder; the tasks' checkpoint names are relative to it.
    desc, unit : str
        The progress bar's label and unit (one unit per result).
    progress : bool
        Show the progress bar.
    save : callable
        ``save(path, result)``; default :func:`save_table`.
    load : callable
        ``load(path) -> result``; default :func:`load_table`.
    prepare : callable, optional
        ``prepare(result, meta) -> result``, applied to each computed result before it is saved
        (e.g. :func:`label_table`, or a record that must exist before the checkpoint does).
    on_result : callable, optional
        ``on_result(task, result)`` (the sequence of results for a tuple ``name``), called for
        every finished task, read back or computed; it may return follow-up tasks.
    postfix : callable, optional
        ``postfix(result) -> dict or None``: the bar's postfix after a computed result.
    total : int, optional
        The bar's total (default: the results read back and submitted, plus ``initial``; give
        it when follow-up tasks will come).
    initial : int
        Results the caller found finished itself (counted on the bar as done).
    keep : bool
        Return the results (False: return nothing, so large results are not held in memory).

    Returns
    -------
    list
        With ``keep``, every result (one per checkpoint file): those read back, in task order,
        then those computed, in completion order. Empty otherwise.
    """
    folder = Path(folder)
    results: list[Any] = []
    pending: dict[Any, Task] = {}
    queue = runner.as_completed()

    def finish(task: Task, outs: list[Any]) -> int:
        """Hand a finished task's results on; start its follow-ups. Returns the results read back."""
        if keep:
            results.extend(outs)
        found = 0
        if on_result is not None:
            for follow in on_result(task, outs if task.many else outs[0]) or ():
                found += start(follow)
        return found

    def start(task: Task) -> int:
        """Read a finished task back, or submit it. Returns the results read back."""
        paths = [folder / name for name in task.files]
        if not task.rerun and all(p.exists() for p in paths):
            return len(paths) + finish(task, [load(p) for p in paths])
        if task.fn is None:
            raise FileNotFoundError(f"task {task.label()} has no function, and its checkpoint is missing")
        future = runner.submit(task.fn, *task.args, key=task_key(task.label()), **task.kwargs)
        pending[future] = task
        queue.add(future)
        return 0

    found = sum(start(task) for task in tasks)
    if total is None:
        total = initial + found + sum(len(t.files) for t in pending.values())
    with tqdm(total=total, initial=initial + found, desc=desc, unit=unit, disable=not progress) as bar:
        for future in queue:
            task = pending.pop(future)
            result = runner.result(future)
            outs = list(result) if task.many else [result]
            if len(outs) != len(task.files):
                raise ValueError(f"task {task.label()} returned {len(outs)} results for {len(task.files)} files")
            metas = list(task.meta) if task.many and task.meta is not None else [task.meta] * len(outs)
            for i, (name, meta) in enumerate(zip(task.files, metas)):
                if prepare is not None:
                    outs[i] = prepare(outs[i], meta)
                save(folder / name, outs[i])
                bar.update(1)
            if postfix is not None:
                shown = postfix(outs[-1])
                if shown:
                    bar.set_postfix(**shown)
            bar.update(finish(task, outs))
    return results
