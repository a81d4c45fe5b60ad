"""Binder (repo2docker) sees the environment and postBuild: repo2docker reads a ``binder/`` (or
``.binder/``) folder *instead of* the repository root, so the environment file must sit in the
same folder as postBuild; it installs mothlib with the book extra; postBuild puts the runnable
chapters where the launch buttons point, each saying what running it computes and how long."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

REPO = Path(__file__).resolve().parents[1]
ENV_FILES = ("environment.yml", "requirements.txt", "Pipfile", "setup.py", "pyproject.toml")


def binder_config_dir() -> Path:
    """The folder repo2docker reads its configuration from (its documented rule)."""
    for name in ("binder", ".binder"):
        if (REPO / name).is_dir():
            return REPO / name
    return REPO


def _extras(extra: str, optional: dict[str, list[str]]) -> set[str]:
    """An extra and every extra it pulls in through ``mothlib[...]`` requirements."""
    found = {extra}
    for requirement in optional.get(extra, []):
        nested = re.fullmatch(r"mothlib\[([\w,\s-]+)\]", requirement.strip())
        if nested:
            for name in nested.group(1).split(","):
                found |= _extras(name.strip(), optional)
    return found


def test_binder_config_holds_the_environment_beside_postbuild():
    config = binder_config_dir()
    assert (config / "environment.yml").is_file(), (
        f"repo2docker reads only {config.relative_to(REPO) or '.'}/: the environment file must be there"
    )
    post = config / "postBuild"
    assert post.is_file() and os.access(post, os.X_OK)
    if config != REPO:  # files at the root would be ignored: none may look as if they counted
        assert not (REPO / "postBuild").exists()


def test_binder_environment_installs_mothlib_with_the_book_extra():
    env = yaml.safe_load((binder_config_dir() / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    local = [p for p in pip if re.fullmatch(r"(-e\s+)?\.(\[[\w,\s-]+\])?", p.strip())]
    assert len(local) == 1, f"the environment must install this checkout once, found {local}"
    extras = re.search(r"\[([\w,\s-]+)\]", local[0])
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed: set[str] = set()
    for name in (extras.group(1).split(",") if extras else []):
        installed |= _extras(name.strip(), optional)
    assert "book" in installed, f"{local[0]} does not pull in the book extra"


def test_postbuild_puts_every_chapter_at_its_launch_path_with_the_measured_times(tmp_path):
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    subprocess.run(["bash", str(binder_config_dir() / "postBuild")], cwd=tmp_path, check=True,
                   env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    chapters = sorted(p.name for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    made = sorted(p.name for p in (tmp_path / "book" / "notebooks").glob("*.ipynb"))
    assert made == chapters
    for name in chapters:
        original = nbformat.read(REPO / "notebooks" / name, as_version=4)
        nb = nbformat.read(tmp_path / "book" / "notebooks" / name, as_version=4)
        nbformat.validate(nb)
        note = nb.cells[1]
        assert note.cell_type == "markdown" and "Launched on Binder" in note.source
        assert re.search(r"`smoke` profile's stages take \d", note.source), note.source
        assert re.search(r"`quick` profile's \d", note.source), note.source
        assert "_TIME" not in note.source
        assert [c.source for c in nb.cells[:1] + nb.cells[2:]] == [c.source for c in original.cells]
