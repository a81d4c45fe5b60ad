"""The study's tasks behind one interface: the moth's inverse problem and handwritten digits.

A :class:`Task` says what differs between tasks and nothing else: its data set (a settings
section and the data stage's work), the loss its networks minimise, its selection rule (a
settings section and the rule over the pruning table), the stages its study runs and the
companion task the book compares it with. The data stage, selection, the readers and
``--estimate`` all go through it, so a new task is one more entry of :data:`TASKS` and one
module for its data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mothlib.core.settings import Settings
from mothlib.study import settings as S

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Task", "TASKS", "get_task", "task_sections"]


@dataclass(frozen=True)
class Task:
    """What one task of the study is.

    Attributes
    ----------
    name : str
    loss : {"mse", "cross_entropy"}
        What its networks minimise (:data:`mothlib.networks.ensemble.LOSSES`).
    data_settings, selection_settings : Settings subclass
        Its ``data`` and ``selection`` sections.
    stages : tuple of str
        The stages its study runs.
    compute_data : callable
        ``compute_data(data_settings, seed, workdir, scratch, runner, progress)`` writes ``data/``.
    select : callable
        ``select(pruning_table, selection_settings) -> table`` with a ``selected`` column.
    classification : bool
        Selection by accuracy (the motif stage then scores levels by ``max_accuracy_margin``).
    n_inputs, n_outputs : int
        Widths of its networks' input and output layers.
    n_rows : callable
        ``n_rows(data_settings) -> int``: samples in its data set (before the split).
    """

    name: str
    loss: str
    data_settings: type[Settings]
    selection_settings: type[Settings]
    stages: tuple[str, ...]
    compute_data: Callable[..., None]
    select: Callable[[pd.DataFrame, Any], pd.DataFrame]
    classification: bool
    n_inputs: int
    n_outputs: int
    n_rows: Callable[[Any], int]


def _moth_data(data: S.MothDataSettings, seed: int, workdir: Path, scratch: Path, runner: Any, progress: bool) -> None:
    from mothlib.study.data import compute_dataset

    compute_dataset(data, seed, workdir, scratch, runner, progress=progress)


def _digits_data(data: S.DigitsDataSettings, seed: int, workdir: Path, scratch: Path, runner: Any, progress: bool) -> None:
    from mothlib.study.digits import compute_digits

    compute_digits(data, seed, workdir, progress=progress)


def _select_by_loss(table: pd.DataFrame, selection: S.LossSelection) -> pd.DataFrame:
    from mothlib.networks.pruning import mark_selected

    return mark_selected(table, selection.loss_threshold)


def _select_by_accuracy(table: pd.DataFrame, selection: S.AccuracySelection) -> pd.DataFrame:
    from mothlib.networks.pruning import mark_selected_by_accuracy

    return mark_selected_by_accuracy(table, selection.accuracy_margin)


#: Every task, by name.
TASKS: dict[str, Task] = {
    "moth": Task(
        name="moth", loss="mse", data_settings=S.MothDataSettings, selection_settings=S.LossSelection,
        stages=("data", "pruning", "motifs", "training_length", "activations", "lesions", "structured"),
        compute_data=_moth_data,
        select=_select_by_loss, classification=False, n_inputs=10, n_outputs=7,
        n_rows=lambda data: data.n_samples,
    ),
    # The training-length experiment is the moth's own: digits runs data, pruning and motifs.
    "digits": Task(
        name="digits", loss="cross_entropy", data_settings=S.DigitsDataSettings,
        selection_settings=S.AccuracySelection, stages=("data", "pruning", "motifs"),
        compute_data=_digits_data, select=_select_by_accuracy, classification=True,
        n_inputs=64, n_outputs=10, n_rows=lambda data: 1797,
    ),
}


def get_task(name: str) -> Task:
    """The task called ``name`` (ValueError naming the known tasks)."""
    if name not in TASKS:
        raise ValueError(f"task: unknown task {name!r}; choose one of {list(TASKS)}")
    return TASKS[name]


def task_sections(name: str) -> dict[str, type[Settings]]:
    """Section name -> settings class of a ``name`` profile."""
    task = get_task(name)
    return {
        "study": S.StudySettings, "run": S.RunSettings, "data": task.data_settings,
        "training": S.TrainingSettings, "ensemble": S.EnsembleSettings,
        "selection": task.selection_settings, "nulls": S.NullSettings, "motifs": S.MotifSettings,
        "length": S.TrainingLengthSettings, "lesions": S.LesionSettings,
        "activations": S.ActivationSettings, "structured": S.StructuredSettings,
    }
