"""Which rows a selection keeps: each network's selected level, and the rows up to it.

Selection itself is the task's rule over the pruning table (:data:`mothlib.study.tasks.TASKS`);
these helpers read its ``selected`` column, for the motif stage, its readers and the findings.
"""

from __future__ import annotations

import pandas as pd

from mothlib.core.tables import check_columns

__all__ = ["selected_levels", "up_to_selected"]

_PRUNING_COLUMNS = ("network", "strategy", "level", "fraction_pruned", "val_loss", "selected")


def selected_levels(pruning: pd.DataFrame, strategy: str = "magnitude") -> pd.DataFrame:
    """Each network's selected level and its fraction pruned, read from the pruning table
    (networks with none left out; :func:`mothlib.networks.pruning.sparsest_accurate_levels` chose them).

    Returns
    -------
    DataFrame
        Columns ``network, level, fraction_pruned, val_loss``, one row per network with a
        selected level.
    """
    check_columns(pruning, _PRUNING_COLUMNS, "pruning")
    rows = pruning[(pruning["strategy"] == strategy) & pruning["selected"].astype(bool)]
    if rows["network"].duplicated().any():
        raise ValueError("more than one selected level for a network in the pruning table")
    return rows[["network", "level", "fraction_pruned", "val_loss"]].reset_index(drop=True)


def up_to_selected(table: pd.DataFrame, pruning: pd.DataFrame, strategy: str | None = None) -> pd.DataFrame:
    """Rows of ``table`` at each network's levels up to its selected one (its accurate levels).

    Parameters
    ----------
    table : DataFrame
        Any table with ``network`` and ``level`` columns (and ``strategy``, unless ``strategy``
        is given): a pruning, motif or training-length table.
    pruning : DataFrame
        A pruning table with a ``selected`` column.
    strategy : str, optional
        None: each row's limit is the selected level of its own (strategy, network). Given: the
        selected level of that strategy's network (:func:`selected_levels`), whatever the row's
        strategy.

    Returns
    -------
    DataFrame
        The rows of networks with a selected level, at levels up to it, in ``table``'s order
        with its index.
    """
    if strategy is None:
        top = pruning[pruning["selected"]].set_index(["strategy", "network"])["level"]
        keys = pd.Series(list(zip(table["strategy"], table["network"])), index=table.index)
    else:
        top = selected_levels(pruning, strategy).set_index("network")["level"]
        keys = table["network"]
    limit = keys.map(top)
    return table[limit.notna() & (table["level"] <= limit)]
