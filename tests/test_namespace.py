"""The top-level namespace (``mothlib.count_motifs`` ...) and each subpackage's re-exports: every
name resolves, is the very object its defining module holds, and loads lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import mothlib

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["core", "simulation", "networks", "motifs", "study", "report", "cli"]
#: What ``import mothlib`` (or a subpackage) alone must not load: seconds of import each.
HEAVY = ("torch", "numba", "dask", "distributed", "pandas", "altair", "papermill")


def _defining_module(obj: object, fallback: str) -> str:
    return getattr(obj, "__module__", None) or fallback


@pytest.mark.parametrize("name", mothlib.__all__)
def test_top_level_name_is_its_subpackages_object(name):
    module_name = mothlib._WHERE[name]
    module = importlib.import_module(module_name)
    sub = importlib.import_module(".".join(module_name.split(".")[:2]))
    value = getattr(mothlib, name)
    assert value is getattr(module, name), f"{name}: not {module_name}.{name}"
    assert name in sub.__all__, f"{sub.__name__} does not re-export {name}"
    assert getattr(sub, name) is value
    assert name in module.__all__, f"{module_name} does not list {name}"
    if callable(value) and hasattr(value, "__module__"):  # mapped where it is defined
        assert value.__module__ == module_name, f"{name} is defined in {value.__module__}"


@pytest.mark.parametrize("package", ["", *SUBPACKAGES])
def test_package_exports_resolve_and_show_in_dir(package):
    pkg = importlib.import_module(f"mothlib.{package}" if package else "mothlib")
    api = pkg.__all__
    assert len(api) == len(set(api)), "a name listed twice"
    assert not [n for n in api if n.startswith("_")], "a private name listed"
    assert set(api) <= set(dir(pkg))
    where_of = {n: module for module, names in getattr(pkg, "_EXPORTS", {}).items() for n in names}
    for name in api:
        where = where_of[name]
        module = importlib.import_module(where if not package else f"{pkg.__name__}.{where}")
        assert not any(part.startswith("_") for part in module.__name__.split(".")[1:]), (
            f"{name} comes from a private module")
        assert getattr(pkg, name) is getattr(module, name)
        assert name in module.__all__, f"{module.__name__} does not list {name}"
    with pytest.raises(AttributeError):
        pkg.no_such_name  # noqa: B018 (the lookup is the test)


def test_subpackages_are_reached_from_the_top():
    for name in SUBPACKAGES:
        assert getattr(mothlib, name) is importlib.import_module(f"mothlib.{name}")
        assert name in dir(mothlib)


@pytest.mark.parametrize("package", ["mothlib", *(f"mothlib.{s}" for s in SUBPACKAGES)])
def test_importing_a_package_loads_nothing_heavy(package):
    code = (f"import sys, {package}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            cwd=REPO, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"import {package} loads {result.stdout.strip()}"
