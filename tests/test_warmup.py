"""warm_kernels compiles (or loads from the cache) every numba kernel of the CPU engines."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Every CPU kernel (not the inline helpers, which compile into their callers), and which of
# them have a compiled (or cache-loaded) signature after warm_kernels, in a fresh process.
PROBE = textwrap.dedent("""
    import importlib, inspect, json, pkgutil
    from numba.core.registry import CPUDispatcher
    import mothlib
    from mothlib.study.warmup import warm_kernels

    warm_kernels(parallel=False)  # in this process, so that its dispatchers show what it did
    kernels = {}
    for info in pkgutil.walk_packages(mothlib.__path__, "mothlib."):
        if "cuda" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (isinstance(obj, CPUDispatcher) and obj.__module__ == info.name
                    and obj.targetoptions.get("inline") != "always"):
                kernels[f"{info.name}.{name}"] = {"compiled": bool(obj.signatures),
                                                  "source": inspect.getsource(obj.py_func)}
    print(json.dumps(kernels))
""")


def test_warm_kernels_compiles_every_entry_kernel_and_the_list_is_complete():
    from mothlib.study.warmup import ENTRY_KERNELS

    # The session's warm-up (conftest.py) already compiled them, so this loads them in seconds.
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    kernels = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(kernels) >= 15, sorted(kernels)  # the simulator's, the counts' and the chains'
    cold = [k for k in ENTRY_KERNELS if not kernels[k]["compiled"]]
    assert not cold, f"entry kernels warm_kernels leaves uncompiled: {cold}"
    # Every other kernel is called from a kernel (so it compiles with it), or is the one
    # ENTRY_KERNELS leaves out on purpose.
    def called_inside(name: str) -> bool:
        short = name.rsplit(".", 1)[1]
        return any(re.search(rf"\b{short}\(", k["source"].split("\n", 1)[1])
                   for other, k in kernels.items() if other != name)

    loose = [k for k in kernels if k not in ENTRY_KERNELS and not called_inside(k)]
    assert loose == ["mothlib.motifs._mcmc._swaps_numba"], loose
