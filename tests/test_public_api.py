"""Every public module of mothlib declares its API in ``__all__``, and every listed name exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import mothlib

#: pipeline.py is changed on another branch at the time of writing; it gets its __all__ there.
_PENDING: set[str] = set()
MODULES = sorted(m.name for m in pkgutil.iter_modules(mothlib.__path__)
                 if not m.name.startswith("_") and m.name not in _PENDING)


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
