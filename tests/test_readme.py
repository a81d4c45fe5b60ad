"""README's findings table is generated (benchmarks/readme_findings.py), never typed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("readme_findings", REPO / "benchmarks" / "readme_findings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_generated_table(block: str, gen) -> bool:
    lines = block.splitlines()
    return (lines[0].startswith("Generated from the `") and lines[1] == ""
            and "\n".join(lines[2:4]) == gen.HEADER
            and [ln.split(".")[0] for ln in lines[4:]] == [f"| {k}" for k in range(1, 7)])


def test_generator_renders_a_stored_run_in_readme_format(smoke_run):
    gen = _generator()
    block = gen.run_findings("smoke", smoke_run.artifacts)
    assert _is_generated_table(block, gen), block
    for line in block.splitlines()[4:]:
        assert len(re.split(r"(?<!\\)\|", line)) == 6, f"a cell splits the row: {line}"  # 4 cells
    readme = (REPO / "README.md").read_text()
    text = readme.replace(gen.readme_block(readme), block)
    assert gen.readme_block(text) == block  # what --write would put there reads back


def test_readme_block_is_the_generators_output_or_says_how_to_make_it():
    gen = _generator()
    block = gen.readme_block((REPO / "README.md").read_text())
    if not block.startswith("Generated from"):
        assert "python benchmarks/readme_findings.py --profile quick --write" in block
        assert not re.search(r"\d\.\d", block), "numbers outside a generated table"
        return
    assert _is_generated_table(block, gen)
    profile = re.match(r"Generated from the `(\w+)` run", block).group(1)
    if not (REPO / "artifacts" / profile / "motifs.manifest.json").exists():
        pytest.skip(f"no stored {profile} run here to compare README's table with")
    assert block == gen.run_findings(profile, REPO / "artifacts"), "README's table differs from the run's"
