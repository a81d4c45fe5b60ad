"""Notebook hygiene, and the smoke profile run through every notebook with papermill."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from mothlib.report import book as pipeline

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ARC = ["flight_model", "training_data", "ensemble_training", "iterative_pruning",
       "motif_counts", "motif_significance", "convergence", "beyond_the_paper", "open_questions",
       "what_z_measures", "beyond_the_moth"]


def _read(path):
    return nbformat.read(path, as_version=4)


def test_the_arc_is_complete_and_ordered():
    assert [p.stem[3:] for p in NOTEBOOKS] == ARC
    assert [p.stem[:2] for p in NOTEBOOKS] == [f"{k:02d}" for k in range(1, 12)]


def test_make_book_starts_each_chapter_after_every_stage_it_reads():
    """make book runs a chapter once the stages of pipeline.NOTEBOOK_STAGES are current: a
    chapter reading another stage would compute it itself, beside the cluster."""
    from mothlib.study import stages

    assert set(pipeline.NOTEBOOK_STAGES) == {p.stem for p in NOTEBOOKS}
    for path in NOTEBOOKS:
        code = "\n".join(c.source for c in _read(path).cells if c.cell_type == "code")
        reads = set(re.findall(r'stages\.run\(\s*"(\w+)"', code))
        declared = set(pipeline.NOTEBOOK_STAGES[path.stem])
        if "run_all(" in code:  # every stage of the profile and of the companion digits study
            reads |= set(stages.STAGES) | {pipeline.COMPANION + s for s in pipeline.DIGITS_STAGES}
        assert reads <= declared, f"{path.name} reads {sorted(reads - declared)} not in NOTEBOOK_STAGES"


def test_toc_lists_exactly_the_notebooks_in_order():
    toc = yaml.safe_load((REPO / "book" / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    listed = [f.split("/")[-1] for f in files if f.startswith("book/notebooks/")]
    assert listed == [p.stem for p in NOTEBOOKS]
    for f in files:
        if not f.startswith("book/notebooks/"):
            assert (REPO / f"{f}.md").exists(), f
    assert (REPO / f"{toc['root']}.md").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_hygiene(path):
    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    # Committed without outputs.
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs committed"
    # An H1 title in the first cell, and only one H1.
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    h1 = [line for c in markdown for line in c.source.splitlines() if line.startswith("# ")]
    assert len(h1) == 1
    for section in ("## Overview", "## Prerequisites", "## Imports", "## The question",
                    "## The result", "## What it means", "## Summary", "## What's next"):
        assert any(section in c.source for c in markdown) or (
            path.stem.startswith("08") and section in ("## The question", "## The result", "## What it means")
        ), section
    # Exactly one parameters cell, of literal assignments only.
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for node in ast.parse(tagged[0].source).body:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)
    names = {t.id for node in ast.parse(tagged[0].source).body for t in node.targets}
    assert {"profile_name", "overrides", "seed", "device", "progress"} <= names
    # No function or class definitions; headings never printed from code.
    for cell in code:
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        assert not re.search(r"Markdown\(\s*f?[\"']#", cell.source)
    # Execution timeout set (honoured by papermill and Jupyter Book).
    assert isinstance(nb.metadata["execution"]["timeout"], int)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glued_names_in_text_are_glued_in_code(path):
    nb = _read(path)
    used = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            used |= set(re.findall(r"\{glue:(?:text|md)?\}`([A-Za-z0-9_]+)", cell.source))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    static = set(re.findall(r"glue\(\"([A-Za-z0-9_]+)\"", code))
    dynamic = re.findall(r"glue\(f\"([A-Za-z0-9_]*)\{", code)
    for name in used - static:
        assert any(name.startswith(prefix) for prefix in dynamic if prefix), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glue_is_remembered_and_listed_for_a_rerun(path):
    """A rerun outside the book shows its numbers: glue comes from mothlib.report.glued, and a
    cell the book removes lists them; no code cell shown in the book calls glue."""
    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any("from myst_nb import glue" in c.source for c in code), "glue not remembered"
    summary = [c for c in code if "glued_summary()" in c.source]
    assert len(summary) == 1 and "remove-cell" in summary[0].metadata.get("tags", [])
    for cell in code:
        tags = cell.metadata.get("tags", [])
        if "glue(" in cell.source and "remove-cell" not in tags:
            assert {"hide-input", "remove-input"} & set(tags), cell.source[:80]


# -- pipeline helpers ------------------------------------------------------------------------

def test_parse_overrides_reads_json_literals_or_strings():
    got = pipeline.parse_overrides(["n_null=200", "device=cuda", "hidden_sizes=[8, 8, 8, 4]",
                                    "max_batches_per_round=null", "es_ratio=1.5"])
    assert got == {"n_null": 200, "device": "cuda", "hidden_sizes": [8, 8, 8, 4],
                   "max_batches_per_round": None, "es_ratio": 1.5}
    with pytest.raises(ValueError, match="key=value"):
        pipeline.parse_overrides(["n_null"])


def test_notebook_profile_none_means_the_profiles_value():
    p = pipeline.notebook_profile("smoke", {"n_networks": 2, "n_null": 7}, n_null=None, seed=3)
    assert (p["n_networks"], p["n_null"], p["seed"], p["profile"]) == (2, 7, 3, "smoke")
    p = pipeline.notebook_profile("smoke", {"n_null": 7}, n_null=9)
    assert p["n_null"] == 9
    with pytest.raises(ValueError, match="unknown profile field"):
        pipeline.notebook_profile("smoke", {"bogus": 1})


def test_notebook_parameters_pass_overrides_by_name_where_declared():
    nb06 = REPO / "notebooks" / "06_motif_significance.ipynb"
    params = pipeline.notebook_parameters(nb06, "smoke", {"n_null": 50, "n_networks": 2}, progress=False)
    assert params == {"profile_name": "smoke", "overrides": {"n_null": 50, "n_networks": 2},
                      "n_null": 50, "progress": False}


def test_cli_rejects_bad_input(capsys):
    from mothlib.__main__ import main

    assert main(["study", "--profile", "smoke", "--stages", "nope"]) == 2
    assert "unknown stage" in capsys.readouterr().err
    assert main(["study", "--profile", "nope"]) == 2
    assert main(["study", "--profile", "smoke", "--set", "bogus=1"]) == 2


# -- the smoke run ---------------------------------------------------------------------------

@pytest.mark.book
def test_smoke_run_writes_every_stage_and_no_errors(smoke_run):
    store_dir = smoke_run.artifacts / "smoke"
    for stage, output in (("data", "data"), ("pruning", "pruning.parquet"), ("motifs", "motifs.parquet")):
        manifest = json.loads((store_dir / f"{stage}.manifest.json").read_text())
        assert output in manifest["outputs"] and (store_dir / output).exists()
    assert [p.name for p in smoke_run.paths] == [p.name for p in NOTEBOOKS]
    # Every stage of the study and of chapter 11's digits study ran once, as a job of its own.
    assert set(smoke_run.stage_seconds) == {
        "data", "pruning", "motifs", "training_length", "activations", "lesions", "structured",
        "digits_smoke:data", "digits_smoke:pruning", "digits_smoke:motifs",
    }
    assert all(computed for _, computed in smoke_run.stage_seconds.values())
    for path in smoke_run.paths:
        nb = _read(path)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], path.name
        stderr = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not any("Traceback" in t for t in stderr), path.name
        html = [o["data"].get("text/html", "") for o in outputs if "data" in o]
        assert any("vegaEmbed(el" in h for h in html), f"{path.name} shows no chart"


@pytest.mark.book
def test_smoke_widget_state_is_saved(smoke_run):
    nb = _read(smoke_run.executed / "06_motif_significance.ipynb")
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(m["model_name"] == "DropdownModel" for m in state.values())


@pytest.mark.book
def test_rerunning_one_notebook_reuses_current_stages(smoke_run, tmp_path):
    manifest_path = smoke_run.artifacts / "smoke" / "motifs.manifest.json"
    before = manifest_path.read_text()
    pipeline.run_notebooks("smoke", artifacts_root=smoke_run.artifacts, output_dir=tmp_path,
                           notebooks=[REPO / "notebooks" / "07_convergence.ipynb"], progress=False)
    assert manifest_path.read_text() == before  # loaded, not recomputed


def test_notebook_profile_in_notebooks_folder_uses_the_repository_artifacts(monkeypatch):
    from mothlib.study.store import ROOT_ENV

    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(REPO / "notebooks")
    pipeline.notebook_profile("smoke")
    assert Path(pipeline.os.environ[ROOT_ENV]) == REPO / "artifacts"


@pytest.mark.book
def test_cli_study_skips_current_stages(smoke_run, monkeypatch, capsys):
    from mothlib.__main__ import main
    from mothlib.study.store import ROOT_ENV

    monkeypatch.setenv(ROOT_ENV, str(smoke_run.artifacts))
    manifests = {s: (smoke_run.artifacts / "smoke" / f"{s}.manifest.json").read_text()
                 for s in ("data", "pruning", "motifs")}
    assert main(["study", "--profile", "smoke", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert all(stage in out for stage in manifests)
    for stage, text in manifests.items():
        assert (smoke_run.artifacts / "smoke" / f"{stage}.manifest.json").read_text() == text


def _glued(path: Path) -> dict[str, str]:
    """Values glued by myst_nb in an executed notebook (their text/plain form)."""
    out = {}
    for cell in _read(path).cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:  # myst_nb stores e.g. application/papermill.record/text/plain
                out[name] = next((v for k, v in o["data"].items() if k.endswith("text/plain")), "")
    return out


@pytest.mark.book
def test_a_new_threshold_reruns_no_stage_and_changes_the_selection(smoke_run, tmp_path, monkeypatch):
    """loss_threshold through papermill and through --set: every manifest untouched, and the
    chapter's selection is the one the stored table gives for that threshold."""
    from mothlib.__main__ import main
    from mothlib.study.pruning_stage import load_pruning_table
    from mothlib.study.store import ROOT_ENV, ArtifactStore
    from mothlib.report.threshold import selection_summary

    store_dir = smoke_run.artifacts / "smoke"
    before = {p.name: p.read_text() for p in store_dir.glob("*.manifest.json")}
    table = load_pruning_table(ArtifactStore("smoke", smoke_run.artifacts))
    threshold = float(table["val_loss"].quantile(0.3))
    pipeline.run_notebooks("smoke", artifacts_root=smoke_run.artifacts, output_dir=tmp_path,
                           notebooks=[REPO / "notebooks" / "04_iterative_pruning.ipynb"],
                           progress=False, overrides={"loss_threshold": threshold})
    glued = _glued(tmp_path / "04_iterative_pruning.ipynb")
    _, expected = selection_summary(table, threshold)
    assert int(glued["n_selected"]) == expected["n_selected"]
    # The rerun's own notebook shows the numbers its text quotes (myst's roles stay literal).
    shown = [o for c in _read(tmp_path / "04_iterative_pruning.ipynb").cells
             if "glued_summary()" in c.source for o in c.get("outputs", [])]
    html = "".join(o.get("data", {}).get("text/html", "") for o in shown)
    assert "n_selected" in html and f">{expected['n_selected']}<" in html
    monkeypatch.setenv(ROOT_ENV, str(smoke_run.artifacts))
    assert main(["study", "--profile", "smoke", "--no-progress", "--set", f"loss_threshold={threshold}"]) == 0
    assert {p.name: p.read_text() for p in store_dir.glob("*.manifest.json")} == before
