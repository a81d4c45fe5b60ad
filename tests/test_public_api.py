"""Every public module of mothlib declares its API in ``__all__``, and every listed name exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import mothlib

#: Every public module of every subpackage (a private module, ``_name``, lists nothing).
MODULES = sorted(
    m.name.removeprefix("mothlib.") for m in pkgutil.walk_packages(mothlib.__path__, "mothlib.")
    if not any(part.startswith("_") for part in m.name.split(".")) and not m.ispkg
)


@pytest.mark.parametrize("name", MODULES)
def test_public_module_lists_its_api(name):
    module = importlib.import_module(f"mothlib.{name}")
    api = module.__all__
    assert len(api) == len(set(api)), "a name listed twice"
    assert not [n for n in api if not hasattr(module, n)], "listed but not defined"
    assert not [n for n in api if n.startswith("_")], "a private name listed"
    # Every public function or class defined here (not imported) is listed.
    own = [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)
           and getattr(v, "__module__", None) == module.__name__]
    assert not sorted(set(own) - set(api)), "defined here but not listed"
