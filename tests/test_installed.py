"""mothlib installed (``pip install .``, not editable) and run from an empty folder outside the
checkout: the study writes to ``./artifacts`` (or ``$MOTHLIB_ARTIFACTS``), and ``book`` says in one
line that it needs a checkout of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: What ``pip install .`` reads from the checkout.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "mothlib")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder with mothlib installed into it from a copy of the sources (no dependencies: the
    running environment has them; no index: nothing is downloaded)."""
    base = tmp_path_factory.mktemp("installed")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:  # a copy, so that building leaves no build/ or egg-info in the checkout
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
        else:
            shutil.copy(REPO / name, src / name)
    target = base / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def _run(args: list[str], cwd: Path, target: Path, **env: str) -> subprocess.CompletedProcess:
    """``python <args>`` in ``cwd`` with only the installed copy on the path."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MOTHLIB_ARTIFACTS")}
    environ.update(PYTHONPATH=str(target), **env)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600, check=False)


def test_the_installed_copy_is_the_one_imported(installed, tmp_path):
    result = _run(["-c", "import mothlib, mothlib.report.book as b; print(mothlib.__file__); print(b.__file__)"],
                  tmp_path, installed)
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split():
        assert Path(line).is_relative_to(installed), line
    assert (installed / "mothlib" / "py.typed").is_file()
    assert list((installed / "mothlib" / "reference_data").glob("*.csv"))
    assert not (installed / "notebooks").exists()


def test_study_runs_from_an_empty_folder_into_its_artifacts(installed, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # The data stage only, on a tenth of the smoke profile's samples: the numba kernels compile
    # afresh in the installed copy, and that is most of the time.
    result = _run(["-m", "mothlib", "study", "--profile", "smoke", "--scheduler", "none",
                   "--stages", "data", "--no-progress", "--set", "n_samples=600",
                   "--set", "data_chunk_size=300"], work, installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data:" in result.stdout
    assert (work / "artifacts" / "smoke" / "data.manifest.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["artifacts"]

    # $MOTHLIB_ARTIFACTS moves the root: another empty folder reads those artifacts.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _run(["-m", "mothlib", "verify", "--profile", "smoke", "--set", "n_samples=600",
                   "--set", "data_chunk_size=300"], elsewhere, installed,
                  MOTHLIB_ARTIFACTS=str(work / "artifacts"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data: ok" in result.stdout
    assert list(elsewhere.iterdir()) == []


def test_book_says_in_one_line_that_it_needs_a_checkout(installed, tmp_path):
    result = _run(["-m", "mothlib", "book", "--profile", "smoke"], tmp_path, installed)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "checkout" in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing ran

    result = _run(["-m", "mothlib", "book", "--repo", str(tmp_path)], tmp_path, installed)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "checkout" in result.stderr
