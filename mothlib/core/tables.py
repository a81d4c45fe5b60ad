"""The one check that a table has the columns a function reads."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["check_columns"]


def check_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise ``ValueError`` naming ``what`` (the argument or caller) if ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: the table lacks columns {missing}; it has {list(df.columns)}")
