"""The findings record: a finished run's six findings with the settings its z-scores depend on.

``make book`` at the ``quick`` profile writes it into the checkout
(``benchmarks/results/findings-quick.json``, committed); README's findings table is rendered
from it and ``tests/test_readme.py`` compares the two.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mothlib.study.store import ArtifactStore, atomic_write
from mothlib.study.tasks import get_task

__all__ = [
    "RECORD_VERSION", "RECORD_DIR", "FINDING_FIELDS", "TRAINING_FIELDS", "RECORD_FIELDS",
    "record_path", "findings_record", "write_record", "read_record",
]

#: Bumped when the record's fields change (a reader refuses another version).
RECORD_VERSION = 2
#: Where, inside a checkout, the records live.
RECORD_DIR = Path("benchmarks") / "results"
#: The columns of ``study_findings``'s table that a record keeps, per finding.
FINDING_FIELDS = ("finding", "claim", "criterion", "measured", "holds")
#: The pruning stage's settings that z depends on (network size, training length), taken from
#: its manifest, so the record says what the run used rather than what the profile says today.
TRAINING_FIELDS = ("n_networks", "hidden_sizes", "learning_rate", "max_batches_dense",
                   "max_batches_per_round", "schedule")
#: Every key of a record.
RECORD_FIELDS = ("version", "profile", "task", "loss_threshold", "widths", *TRAINING_FIELDS,
                 "n_null", "motifs_outputs_hash", "findings")


def record_path(repo: str | os.PathLike, profile: str) -> Path:
    """The record of ``profile`` in the checkout ``repo``."""
    return Path(repo) / RECORD_DIR / f"findings-{profile}.json"


def findings_record(
    store: ArtifactStore, loss_threshold: float, findings: pd.DataFrame | None = None
) -> dict[str, Any]:
    """The record of the finished run in ``store`` at ``loss_threshold``.

    ``findings`` is that run's ``study_findings`` table when the caller has it already (else it
    is computed, nothing recomputed but the criteria). Raises ``FileNotFoundError`` when the
    pruning or motif stage has not finished.
    """
    from mothlib.study.findings import study_findings

    pruning, motifs = store.require("pruning"), store.require("motifs")
    if findings is None:
        findings = study_findings(store, loss_threshold)
    missing = set(FINDING_FIELDS) - set(findings.columns)
    if missing:
        raise ValueError(f"findings table lacks columns {sorted(missing)}")
    params = pruning["params"]
    task = get_task(params.get("task", "moth"))
    rows = [{"finding": int(r["finding"]), "claim": str(r["claim"]), "criterion": str(r["criterion"]),
             "measured": str(r["measured"]), "holds": bool(r["holds"])}
            for r in findings[list(FINDING_FIELDS)].to_dict("records")]
    return {
        "version": RECORD_VERSION,
        "profile": store.profile,
        "task": task.name,
        "loss_threshold": float(loss_threshold),
        "widths": [task.n_inputs, *params["hidden_sizes"], task.n_outputs],
        **{name: params[name] for name in TRAINING_FIELDS},
        "n_null": motifs["params"]["n_null"],
        "motifs_outputs_hash": motifs["outputs_hash"],
        "findings": rows,
    }


def write_record(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Write ``record`` as indented JSON (keys in :data:`RECORD_FIELDS` order) atomically."""
    _check(record, path)
    path = Path(path)
    text = json.dumps({k: record[k] for k in RECORD_FIELDS}, indent=2, ensure_ascii=False) + "\n"
    with atomic_write(path, "wb") as handle:
        handle.write(text.encode("utf-8"))
    path.chmod(0o644)  # mkstemp makes 0600; a committed file is world-readable
    return path


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """The record at ``path``; ``FileNotFoundError`` or ``ValueError`` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no findings record at {path}; `make book` at its profile writes it")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not JSON: {err}") from None
    _check(record, path)
    return record


def _check(record: Any, where: str | os.PathLike) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: a findings record is a JSON object, got {type(record).__name__}")
    if record.get("version") != RECORD_VERSION:
        raise ValueError(f"{where}: findings record version {record.get('version')!r}, expected {RECORD_VERSION}")
    missing = [k for k in RECORD_FIELDS if k not in record]
    extra = sorted(set(record) - set(RECORD_FIELDS))
    if missing or extra:
        raise ValueError(f"{where}: findings record lacks {missing} / has unknown keys {extra}")
    rows = record["findings"]
    if not isinstance(rows, list) or [r.get("finding") if isinstance(r, dict) else None for r in rows] != [
            *range(1, 7)]:
        raise ValueError(f"{where}: findings must be the six rows 1..6")
    for row in rows:
        if set(row) != set(FINDING_FIELDS) or not isinstance(row["holds"], bool):
            raise ValueError(f"{where}: finding {row['finding']} must have exactly {list(FINDING_FIELDS)}, "
                             "holds true or false")
