"""Run the study: its stages, its notebooks (papermill) and its book (Jupyter Book 1.x).

``python -m mothlib study`` calls :func:`run_study`; ``python -m mothlib book`` calls
:func:`make_book`: :func:`execute_study` runs every stage and executes every chapter into
``book/notebooks/`` (build output, not committed) on one Dask cluster, each as soon as the
stages it reads are current, then :func:`build_book` builds ``_build/html`` with execution off.

The book must read offline: :func:`vendor_assets` writes the Vega bundle (from
``vl-convert-python``) and the widget manager's scripts (npm packages ``requirejs`` and
``@jupyter-widgets/html-manager``) and MathJax (npm package ``mathjax``), fetched once with
``npm pack`` and kept in ``book/_assets/vendor/``, which git ignores, into the book's static
files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mothlib.study.cluster import INLINE, Runner, open_runner, resolve_scheduler
from mothlib.study.jobs import Job, run_jobs
from mothlib.study.profiles import Profile, get_profile
from mothlib.study.store import ROOT_ENV, ArtifactStore, default_root

__all__ = [
    "CHECKOUT_MARKERS", "NOTEBOOKS", "EXECUTED", "ASSETS", "CheckoutNotFound", "is_checkout", "find_checkout", "BOOK_TABLES", "DIGITS_STAGES", "NOTEBOOK_STAGES",
    "COMPANION", "MATH_PACKAGES", "MOTIFS_SVG", "StudyRun", "parse_overrides", "notebook_profile", "list_notebooks",
    "notebook_parameters", "run_notebooks", "copy_tables", "execute_notebook", "vendor_assets",
    "build_book", "run_study", "stage_jobs", "findings_for", "companion_task_profile",
    "notebook_jobs", "execute_study", "make_book", "RECORDED_PROFILES", "record_findings",
]

#: What marks a checkout of the repository (the book's source folder): a file and a folder.
CHECKOUT_MARKERS = ("_config.yml", "notebooks")
#: The folder above the imported package: the repository when mothlib runs from a checkout.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: Inside a checkout: the chapters, and where they are executed to (build output).
NOTEBOOKS = "notebooks"
EXECUTED = "book/notebooks"
ASSETS = "book/_assets"


class CheckoutNotFound(FileNotFoundError):
    """The book needs a checkout of the repository (an installed mothlib has no notebooks)."""


def is_checkout(path: str | os.PathLike) -> bool:
    """True when ``path`` holds the repository's ``_config.yml`` and ``notebooks/``."""
    path = Path(path)
    return (path / CHECKOUT_MARKERS[0]).is_file() and (path / CHECKOUT_MARKERS[1]).is_dir()


def find_checkout(repo: str | os.PathLike | None = None) -> Path:
    """The repository checkout the book is made from (absolute).

    ``repo`` when given; else the working directory; else the folder above the imported package
    (mothlib imported from a checkout).

    Raises
    ------
    CheckoutNotFound
        With a one-line message, when none of these is a checkout.
    """
    if repo is not None:
        if is_checkout(repo):
            return Path(repo).resolve()
        raise CheckoutNotFound(
            f"{repo} is not a checkout of the mothlib repository (no _config.yml and notebooks/)"
        )
    for candidate in (Path.cwd(), _PACKAGE_PARENT):
        if is_checkout(candidate):
            return candidate.resolve()
    raise CheckoutNotFound(
        "the book needs a checkout of the mothlib repository (a folder with _config.yml and "
        "notebooks/): run this command inside one, or pass --repo PATH"
    )


#: npm packages whose files let widget state render without a kernel (pinned for repeatability).
WIDGET_PACKAGES: dict[str, tuple[str, str]] = {
    # package spec -> (file inside the tarball, name in the vendor folder)
    "requirejs@2.3.8": ("package/require.js", "require.js"),
    "@jupyter-widgets/html-manager@1.0.15": ("package/dist/embed-amd.js", "embed-amd.js"),
}
VEGA_BUNDLE = "vega-bundle.js"
#: npm package that typesets the book's formulas offline: MathJax 3's one-file bundle with every
#: TeX extension and SVG output (it loads no fonts or extensions at run time; MathJax 4 would).
MATH_PACKAGES: dict[str, tuple[str, str]] = {
    "mathjax@3.2.2": ("package/es5/tex-svg-full.js", "tex-svg-full.js"),
}
#: The drawing of the eight motifs (:func:`mothlib.report.motif_svg.all_motifs_svg`), written
#: at build time beside the vendored scripts; the methods page shows it.
MOTIFS_SVG = "motifs.svg"


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["n_null=200", "device=cuda"]`` -> ``{"n_null": 200, "device": "cuda"}``.

    Values are read as JSON literals (numbers, lists, true/false/null), else kept as strings.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def notebook_profile(
    profile_name: str, overrides: Mapping[str, Any] | None = None, **params: Any
) -> Profile:
    """The profile a notebook runs with: ``overrides`` then its own parameters, ``None`` meaning
    "the profile's value".

    A notebook run from inside ``notebooks/`` or ``book/notebooks/`` (JupyterLab's working
    directory for it; the book's launch buttons open the latter) without ``$MOTHLIB_ARTIFACTS``
    uses the repository's ``artifacts/``, like papermill runs from the repository root.

    Examples
    --------
    >>> notebook_profile("smoke", {"n_networks": 2}, n_null=None)["n_networks"]
    2
    """
    here = Path.cwd().resolve()
    repo = next((r for r in (here.parent, here.parent.parent)
                 if here in (r / NOTEBOOKS, r / EXECUTED) and is_checkout(r)), None)
    if ROOT_ENV not in os.environ and repo is not None:
        # A kernel started in notebooks/ (JupyterLab) shares the repository's artifacts
        # instead of starting a second store under notebooks/artifacts.
        os.environ[ROOT_ENV] = str(repo / "artifacts")
    merged = dict(overrides or {})
    merged.update({k: v for k, v in params.items() if v is not None})
    return get_profile(profile_name, **merged)


def list_notebooks(directory: Path | None = None) -> list[Path]:
    """The study's notebooks (``NN_name.ipynb``), in order (default: the checkout's
    ``notebooks/``, see :func:`find_checkout`)."""
    directory = directory if directory is not None else find_checkout() / NOTEBOOKS
    found = sorted(p for p in Path(directory).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {directory}")
    return found


def notebook_parameters(
    notebook: Path, profile_name: str, overrides: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Papermill parameters for ``notebook``: the profile name, every override (also passed by
    name where the notebook declares it, so its own literal does not shadow it) and ``extra``
    for declared names only."""
    import papermill

    declared = set(papermill.inspect_notebook(str(notebook)))
    overrides = dict(overrides or {})
    params: dict[str, Any] = {"profile_name": profile_name, "overrides": overrides}
    params.update({k: v for k, v in overrides.items() if k in declared})
    params.update({k: v for k, v in extra.items() if k in declared})
    return {k: v for k, v in params.items() if k in declared}


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _kernel_env(root: Path, book_mode: bool) -> dict[str, str]:
    """Environment of a chapter's kernel: the artifact root, book mode, and this environment's
    kernelspecs first (a stray user-level "python3" kernelspec must not shadow it: papermill
    issue 251)."""
    jupyter_path = os.pathsep.join(
        p for p in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")) if p
    )
    return {ROOT_ENV: str(root), "MOTHLIB_BOOK": "1" if book_mode else "0", "JUPYTER_PATH": jupyter_path}


def run_notebooks(
    profile_name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    output_dir: Path | None = None,
    notebooks: Sequence[Path] | None = None,
    artifacts_root: Path | None = None,
    kernel: str = "python3",
    book_mode: bool = True,
    progress: bool = True,
    runner: Runner | None = None,
) -> list[Path]:
    """Execute the notebooks with papermill; return the executed copies' paths.

    In process (default) they run in order, each running the stages it needs. With a
    ``runner`` of a local cluster they run side by side as tasks: run the stages first
    (:func:`run_study`), so that no two notebooks compute the same stage.

    Parameters
    ----------
    profile_name : str
        The profile every notebook runs with.
    overrides : mapping, optional
        Profile overrides (``--set``), passed to every notebook.
    output_dir : path, optional
        Where executed notebooks are written (default the checkout's ``book/notebooks/``).
    notebooks : sequence of paths, optional
        Default: every ``notebooks/NN_*.ipynb`` of the checkout (:func:`find_checkout`).
    artifacts_root : path, optional
        Artifact root for the run (default :func:`~mothlib.study.store.default_root`),
        made absolute so that every kernel agrees.
    kernel : str
        Jupyter kernel name.
    book_mode : bool
        Render charts as offline book HTML (``MOTHLIB_BOOK=1``) and hide stage progress bars.
    progress : bool
        Show a progress bar over notebooks.
    runner : Runner, optional
        Where the notebooks run (see above).
    """
    get_profile(profile_name, **dict(overrides or {}))  # fail early on a bad name or field
    repo = find_checkout()
    notebooks = list(notebooks) if notebooks is not None else list_notebooks(repo / NOTEBOOKS)
    root = Path(artifacts_root or default_root()).resolve()
    output_dir = Path(output_dir) if output_dir is not None else repo / EXECUTED
    jobs = notebook_jobs(profile_name, overrides, [], root=root, runner=runner, output_dir=output_dir,
                         progress=progress, repo=repo, notebooks=notebooks, kernel=kernel,
                         book_mode=book_mode)
    run_jobs(jobs, parallel=runner is not None and runner.client is not None)
    copy_tables(root / profile_name, output_dir / "data")
    return [output_dir / Path(n).name for n in notebooks]


#: The stage tables the chapters offer for download (``{download}`data/<name>```).
BOOK_TABLES = ("pruning.parquet", "motifs.parquet", "training_length.parquet")


def copy_tables(profile_dir: Path, target: Path) -> list[Path]:
    """Copy the profile's Parquet tables beside the executed notebooks, for the book's download
    links (only tables that exist)."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in BOOK_TABLES:
        if (profile_dir / name).exists():
            _atomic_bytes(target / name, (profile_dir / name).read_bytes())
            copied.append(target / name)
    return copied


def execute_notebook(
    source: str, parameters: dict[str, Any], kernel: str, env: dict[str, str],
    cwd: Path | None = None,
) -> str:
    """Task: run one notebook (its JSON text) with papermill in ``cwd`` (default: the checkout,
    :func:`find_checkout`); return the executed JSON text.

    Needs the client's artifact folder (``env``) on the machine it runs on: notebooks run on the
    client's machine (in process, or on the local cluster that ``make book`` starts).
    """
    import papermill

    with tempfile.TemporaryDirectory() as tmp, _environ(**env):
        src, out = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        src.write_text(source)
        papermill.execute_notebook(
            str(src), str(out), parameters=parameters, kernel_name=kernel,
            cwd=str(cwd if cwd is not None else find_checkout()), progress_bar=False, log_output=False,
            # The kernel's own log (a transport warning, "KeyboardInterrupt caught" at shutdown) is
            # noise in the terminal; cell errors still raise through papermill.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        return out.read_text()


#: The widget manager whose icon fonts the chapters with widgets load, and where (relative to the
#: built site) it looks for them: its public path resolves to either folder, depending on which
#: of its scripts asks first.
WIDGET_FONT_PACKAGE = "@jupyter-widgets/html-manager@1.0.15"
WIDGET_FONT_PATHS = ("book/notebooks/@jupyter-widgets/html-manager/dist", "book/notebooks/@jupyter-widgets")
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")


def _npm_fetch(spec: str, member: str, target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"npm is needed once to fetch {spec} for the offline book; install Node.js, or put "
            f"{member.split('/')[-1]} from that package into {target.parent}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=300
        )
        if result.returncode:
            raise RuntimeError(f"`npm pack {spec}` failed: {result.stderr.strip()}")
        tarball = Path(tmp) / result.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            data = archive.extractfile(member)
            if data is None:
                raise RuntimeError(f"{spec} has no file {member}")
            _atomic_bytes(target, data.read())


def _npm_fetch_fonts(spec: str, folder: str, target: Path) -> list[Path]:
    """Every font file in ``folder`` of the npm package ``spec``, written into ``target``."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is needed once to fetch {spec}'s fonts for the offline book; install Node.js")
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True,
                                timeout=300)
        if result.returncode:
            raise RuntimeError(f"`npm pack {spec}` failed: {result.stderr.strip()}")
        tarball = Path(tmp) / result.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                name = Path(member.name)
                if name.parent.as_posix() == folder and name.suffix in FONT_SUFFIXES:
                    data = archive.extractfile(member)
                    if data is not None:
                        _atomic_bytes(target / name.name, data.read())
                        written.append(target / name.name)
    return written


def _atomic_bytes(target: Path, data: bytes) -> None:
    from mothlib.study.store import atomic_write

    with atomic_write(target, "wb") as handle:
        handle.write(data)
    target.chmod(0o644)  # mkstemp makes 0600; served files must be world-readable


def vendor_assets(assets_dir: Path | None = None, *, refresh: bool = False) -> list[Path]:
    """Write the scripts the offline book needs into ``<assets_dir>/vendor/`` (default: the
    checkout's ``book/_assets``).

    The Vega bundle is regenerated when missing (no network); the widget scripts and MathJax
    (:data:`MATH_PACKAGES`) are fetched with ``npm pack`` once and kept; the motif drawing
    (:data:`MOTIFS_SVG`) is rewritten every time, from the motif definitions. Returns the files.
    """
    from mothlib.report.motif_svg import all_motifs_svg
    from mothlib.report.plots import vega_bundle

    assets_dir = Path(assets_dir) if assets_dir is not None else find_checkout() / ASSETS
    vendor = assets_dir / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    bundle = vendor / VEGA_BUNDLE
    if refresh or not bundle.exists():
        _atomic_bytes(bundle, vega_bundle().encode())
    files = [bundle]
    for spec, (member, name) in {**WIDGET_PACKAGES, **MATH_PACKAGES}.items():
        target = vendor / name
        if refresh or not target.exists():
            _npm_fetch(spec, member, target)
        files.append(target)
    # The widget manager loads its icon fonts relative to the chapter page (book/notebooks/):
    # Sphinx copies html_extra_path (book/_extra) to the site's root, so they land there.
    for path in WIDGET_FONT_PATHS:
        fonts = assets_dir.parent / "_extra" / path
        if refresh or not any(fonts.glob("*.woff2")):
            files += _npm_fetch_fonts(WIDGET_FONT_PACKAGE, "package/dist", fonts)
        else:
            files += sorted(p for p in fonts.iterdir() if p.suffix in FONT_SUFFIXES)
    drawing = vendor / MOTIFS_SVG
    svg = all_motifs_svg().encode()
    if not drawing.exists() or drawing.read_bytes() != svg:  # unchanged: keep Sphinx's mtime
        _atomic_bytes(drawing, svg)
    files.append(drawing)
    return files


def build_book(
    source: Path | None = None, *, warnings_as_errors: bool = True, quiet: bool = True
) -> Path:
    """Build the book with Jupyter Book 1.x (execution off) into ``<source>/_build/html``
    (default source: the checkout, :func:`find_checkout`).

    Raises
    ------
    FileNotFoundError
        When the executed notebooks the table of contents names are missing.
    RuntimeError
        When the build fails (its log is included).
    """
    source = Path(source) if source is not None else find_checkout()
    executed = source / "book" / "notebooks"
    if not list(executed.glob("*.ipynb")):
        raise FileNotFoundError(
            f"no executed notebooks in {executed}; run them first (python -m mothlib book)"
        )
    vendor_assets(source / "book" / "_assets")
    command = [
        sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(source),
        "--path-output", str(source), "--config", str(source / "_config.yml"),
        "--toc", str(source / "book" / "_toc.yml"),
    ]
    if warnings_as_errors:
        command += ["-W", "-n", "--keep-going"]
    if quiet:
        command += ["-q"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=source)
    if result.returncode:
        raise RuntimeError(
            f"jupyter-book build failed ({result.returncode}):\n{result.stdout[-6000:]}\n"
            f"{result.stderr[-6000:]}"
        )
    return source / "_build" / "html"


@dataclass
class StudyRun:
    """What :func:`make_book` did: where the book is, each stage's time, the findings."""

    html: Path | None
    stage_seconds: dict[str, tuple[float, bool]]  # stage -> (seconds, computed in this run)
    findings: Any  # DataFrame, or None when a stage is missing
    profile: str
    #: Wall seconds of the stages and chapters together, and of the book build.
    run_seconds: float | None = None
    build_seconds: float | None = None
    #: What :func:`record_findings` did (None: the profile is not recorded).
    record: str | None = None

    def report(self) -> str:
        """A few lines for the terminal."""
        lines = []
        if self.html is not None:
            lines.append(f"book built: {self.html / 'index.html'}")
        if self.stage_seconds:
            lines.append("stages (side by side on the cluster, so their times overlap):")
        for stage, (seconds, now) in self.stage_seconds.items():
            when = "computed now" if now else "current, reused"
            lines.append(f"  {stage:<22} {seconds:8.1f} s  ({when})")
        if self.run_seconds is not None:
            lines.append(f"  {'stages and chapters':<22} {self.run_seconds:8.1f} s  (wall)")
        if self.build_seconds is not None:
            lines.append(f"  {'book build':<22} {self.build_seconds:8.1f} s")
        if self.findings is not None:
            table = self.findings[["finding", "measured", "holds"]].to_string(index=False)
            lines += [f"findings ({self.profile} profile):", table]
        if self.record is not None:
            lines.append(self.record)
        return "\n".join(lines)


def run_study(
    profile: Mapping[str, Any],
    stages: Sequence[str] | None = None,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    artifacts_root: Path | None = None,
    progress: bool = True,
    runner: Runner | None = None,
) -> dict[str, tuple[float, bool]]:
    """Run the stages on a Dask cluster (default: a local one, one worker per core; or the
    given ``runner``).

    Returns stage -> (seconds it took when computed, whether it was computed in this call).
    """
    from mothlib.study import stages as stage_mod

    store = ArtifactStore(profile["profile"], artifacts_root)
    wanted = stage_mod.default_stages(profile) if stages is None else list(stages)
    for name in wanted:
        stage_mod.check_stage(name, profile)  # bad input fails before a cluster starts

    def stamp(name: str) -> tuple[Any, Any]:
        m = store.manifest(name) or {}
        return m.get("key"), m.get("created")

    before = {name: stamp(name) for name in wanted}
    if all(stage_mod.is_current(name, profile, store) for name in wanted):
        manifests = {name: store.require(name) for name in wanted}  # no cluster needed
        return {name: (float(m["seconds"]), stamp(name) != before[name]) for name, m in manifests.items()}
    if runner is not None:
        return run_jobs(stage_jobs(profile, wanted, store, runner, progress), parallel=runner.client is not None)
    with open_runner(scheduler, n_workers=n_workers) as runner, \
            _cluster_ready(runner, scheduler, progress, computes=True):
        return run_jobs(stage_jobs(profile, wanted, store, runner, progress), parallel=runner.client is not None)


@contextlib.contextmanager
def _cluster_ready(runner: Runner, scheduler: str | None, progress: bool, *, computes: bool) -> Iterator[None]:
    """Print the dashboard's address; on a local cluster where stages will be computed, compile
    the numba kernels once meanwhile (:func:`mothlib.study.warmup.warm_workers`). Its futures are
    held for the block (a released future's task is cancelled) and gathered at its end, so that
    a failed warm-up shows."""
    from mothlib.study.warmup import warm_workers

    if progress and runner.dashboard:
        print(f"Dask dashboard: {runner.dashboard}", flush=True)
    warm = warm_workers(runner) if computes and resolve_scheduler(scheduler) == "local" else []
    yield
    if warm:
        runner.client.gather(warm)


def stage_jobs(
    profile: Mapping[str, Any], names: Sequence[str], store: ArtifactStore, runner: Runner,
    progress: bool, prefix: str = "",
) -> list[Job]:
    """One :class:`~mothlib.study.jobs.Job` per stage of ``names`` (named ``prefix + stage``), each
    needing the stages of ``names`` it reads; a job returns (seconds the stage took when
    computed, whether this run computed it)."""
    from mothlib.study import stages as stage_mod

    wanted = set(names)
    jobs = []
    for name in [n for n in stage_mod.STAGES if n in wanted]:  # pipeline order: needs come first
        def run(name: str = name) -> tuple[float, bool]:
            before = (store.manifest(name) or {}).get("created")
            manifest = stage_mod.run(name, profile, store, runner, progress=progress)
            return float(manifest["seconds"]), manifest.get("created") != before

        needs = tuple(prefix + s for s in stage_mod.STAGES[name].inputs if s in wanted)
        jobs.append(Job(prefix + name, needs, run))
    return jobs


def findings_for(profile: Mapping[str, Any], artifacts_root: Path | None = None) -> Any:
    """The six-findings table of a finished run (None when a stage is missing)."""
    from mothlib.study.findings import study_findings

    try:
        return study_findings(ArtifactStore(profile["profile"], artifacts_root), profile["loss_threshold"])
    except FileNotFoundError:
        return None


#: Dask priority of a chapter's task: ahead of the bulk of the stages' tasks (a chapter is short
#: and the book waits for it), behind the pruning chains (:attr:`mothlib.study.stages.Stage.priority`).
CHAPTER_PRIORITY = 1

#: The profiles whose findings :func:`make_book` records in the checkout, for README's table.
RECORDED_PROFILES = ("quick",)


def record_findings(
    repo: str | os.PathLike, profile: Profile, artifacts_root: Path | None = None, findings: Any = None,
    *, recorded: Sequence[str] = RECORDED_PROFILES,
) -> str | None:
    """Write the findings record of ``profile``'s finished run into the checkout ``repo``
    (:func:`mothlib.study.findings_record.record_path`) when it is a profile of ``recorded``
    with no result or filter field changed by ``--set``.

    ``findings`` is the run's findings table when already computed. Returns one line for the
    terminal saying what was done (None for a profile that is not recorded); a record that
    cannot be written is said there, after a finished book, rather than raised.
    """
    from mothlib.study.findings_record import findings_record, record_path, write_record

    name = profile["profile"]
    if name not in recorded:
        return None
    stock = get_profile(name).sections
    changed = sorted(type(section).flat_name(field)
                     for key, section in profile.sections.items() for field in type(section).declared()
                     if type(section).role(field) != "run"
                     and getattr(section, field) != getattr(stock[key], field))
    if changed:
        return f"findings record not written: --set changed {', '.join(changed)} (it is the stock {name} profile's)"
    path = record_path(repo, name)
    try:
        record = findings_record(ArtifactStore(name, artifacts_root), profile["loss_threshold"], findings)
        write_record(path, record)
    except (OSError, ValueError) as err:
        return f"findings record not written: {err}"
    return f"findings record written: {path} (README's table from it: python benchmarks/readme_findings.py --write)"


#: The stages chapter 11 reads for the digits task (the training-length experiment is the moth's).
DIGITS_STAGES = ("data", "pruning", "motifs")


def companion_task_profile(profile_name: str) -> str:
    """The digits profile that chapter 11 runs beside a moth profile
    (:func:`mothlib.study.profiles.companion_profile`)."""
    from mothlib.study.profiles import companion_profile

    return companion_profile(profile_name)


#: The stages each chapter reads (its ``stages.run`` calls; ``companion:`` marks the digits
#: study's): ``make book`` starts a chapter as soon as these are current. A chapter not listed
#: waits for every stage.
NOTEBOOK_STAGES: dict[str, tuple[str, ...]] = {
    # Reads no stage, but runs the simulator: after the data stage its numba kernels load from
    # the cache that stage wrote instead of compiling a third time.
    "01_flight_model": ("data",),
    "02_training_data": ("data",),
    "03_ensemble_training": ("pruning",),
    "04_iterative_pruning": ("pruning",),
    "05_motif_counts": ("pruning",),
    "06_motif_significance": ("motifs",),
    "07_convergence": ("motifs",),
    "08_beyond_the_paper": ("motifs",),
    "09_open_questions": ("motifs", "activations", "lesions", "structured"),
    "10_what_z_measures": ("data", "training_length"),
    # Its run_all(moth) covers every stage of the moth's study, the open questions' too.
    "11_beyond_the_moth": ("data", "pruning", "motifs", "training_length", "activations", "lesions",
                           "structured", "companion:data", "companion:pruning", "companion:motifs"),
}
COMPANION = "companion:"


def notebook_jobs(
    profile_name: str,
    overrides: Mapping[str, Any] | None,
    stage_names: Sequence[str],
    *,
    root: Path,
    runner: Runner | None,
    output_dir: Path | None = None,
    progress: bool = True,
    repo: Path | None = None,
    notebooks: Sequence[Path] | None = None,
    kernel: str = "python3",
    book_mode: bool = True,
) -> list[Job]:
    """One job per chapter of the checkout ``repo`` (default :func:`find_checkout`): execute it
    (into ``output_dir``, default ``<repo>/book/notebooks``) once the stages it reads are
    current. The one notebook executor: :func:`run_notebooks` and :func:`execute_study` use it.

    With a ``runner`` of a local cluster a chapter runs as a task on it; without one (a remote
    cluster cannot see this machine's artifact folder) chapters run here, one at a time.
    ``notebooks`` (default: every chapter) and ``book_mode`` (offline book charts, no stage
    progress bars) as for :func:`run_notebooks`.
    """
    import threading

    from tqdm.auto import tqdm

    repo = find_checkout(repo)
    output_dir = Path(output_dir) if output_dir is not None else repo / EXECUTED
    output_dir.mkdir(parents=True, exist_ok=True)
    env = _kernel_env(root, book_mode=book_mode)
    notebooks = [Path(n) for n in notebooks] if notebooks is not None else list_notebooks(repo / NOTEBOOKS)
    bar = tqdm(total=len(notebooks), desc="notebooks", unit="chapter", disable=not progress)
    one_at_a_time = threading.Lock()

    def execute(notebook: Path) -> Path:
        params = notebook_parameters(notebook, profile_name, overrides, progress=not book_mode)
        if runner is not None and runner.client is not None:
            future = runner.with_priority(CHAPTER_PRIORITY).submit(
                execute_notebook, notebook.read_text(), params, kernel, env, repo,
                key=f"notebook-{notebook.stem}-{uuid.uuid4().hex[:8]}")
            text = runner.result(future)
        else:
            with one_at_a_time:
                text = execute_notebook(notebook.read_text(), params, kernel, env, repo)
        target = output_dir / notebook.name
        _atomic_bytes(target, text.encode())
        bar.update(1)
        return target

    jobs = []
    for notebook in notebooks:
        needs = [n for n in NOTEBOOK_STAGES.get(notebook.stem, stage_names) if n in stage_names]
        jobs.append(Job(f"notebook:{notebook.stem}", tuple(needs),
                        functools.partial(execute, notebook)))
    return jobs


def execute_study(
    profile_name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    artifacts_root: Path | None = None,
    output_dir: Path | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    n_workers: int | None = None,
    repo: Path | None = None,
) -> dict[str, tuple[float, bool]]:
    """Run every stage and execute every chapter (book mode) on one Dask cluster.

    The chapters are the checkout's (``repo``, default :func:`find_checkout`), executed into
    ``output_dir`` (default ``<repo>/book/notebooks``); artifacts go under ``artifacts_root``
    (default :func:`~mothlib.study.store.default_root`).

    Every stage (the profile's, and the digits study's that chapter 11 reads) and every chapter
    is a :class:`~mothlib.study.jobs.Job` that starts as soon as what it reads is current, so the
    training-length experiment, the digits study and the early chapters fill the workers
    beside the pruning stage. The chapters find their stages current and only load them.

    Returns
    -------
    dict
        Stage (``digits_*:`` for the digits study's) -> (seconds it took when computed, whether
        this run computed it).
    """
    from mothlib.study import stages as stage_mod

    profile = get_profile(profile_name, **dict(overrides or {}))
    repo = find_checkout(repo)  # before any stage runs: without a checkout there are no chapters
    output_dir = Path(output_dir) if output_dir is not None else repo / EXECUTED
    root = Path(artifacts_root or default_root()).resolve()
    digits = get_profile(companion_task_profile(profile_name))
    names = stage_mod.default_stages(profile)
    for name in names:
        stage_mod.check_stage(name, profile)  # bad input fails before a cluster starts
    # Chapters alone (every stage current) need no kernels on the workers: they run in kernels of their own.
    computes = not all(stage_mod.is_current(n, p, ArtifactStore(p["profile"], root))
                       for p, stage_names in ((profile, names), (digits, DIGITS_STAGES)) for n in stage_names)
    with open_runner(scheduler, n_workers=n_workers) as runner, \
            _cluster_ready(runner, scheduler, progress, computes=computes):
        jobs = stage_jobs(profile, names, ArtifactStore(profile_name, root), runner, progress)
        if digits["profile"] != profile_name:  # a digits profile is its own companion
            jobs += stage_jobs(digits, DIGITS_STAGES, ArtifactStore(digits["profile"], root), runner,
                               progress, prefix=COMPANION)
        # Chapters read this machine's artifact folder: tasks on a local cluster, else here.
        local = resolve_scheduler(scheduler) in ("local", *INLINE)
        jobs += notebook_jobs(profile_name, overrides, [j.name for j in jobs], root=root,
                              runner=runner if local else None, output_dir=output_dir,
                              progress=progress, repo=repo)
        results = run_jobs(jobs, parallel=runner.client is not None)
    copy_tables(root / profile_name, output_dir / "data")
    return {
        job.name.replace(COMPANION, f"{digits['profile']}:"): results[job.name]
        for job in jobs if not job.name.startswith("notebook:")
    }


def make_book(
    profile_name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    artifacts_root: Path | None = None,
    execute: bool = True,
    progress: bool = True,
    scheduler: str | None = None,
    n_workers: int | None = None,
    repo: str | os.PathLike | None = None,
) -> StudyRun:
    """Run the stages and the chapters (:func:`execute_study`), then build the book.

    The book is the checkout's (``repo``, default :func:`find_checkout`, which raises
    :class:`CheckoutNotFound` before anything runs); artifacts go under ``artifacts_root``
    (default :func:`~mothlib.study.store.default_root`). At a profile of
    :data:`RECORDED_PROFILES` the findings are also recorded in the checkout
    (:func:`record_findings`).
    """
    repo = find_checkout(repo)
    profile = get_profile(profile_name, **dict(overrides or {}))
    root = Path(artifacts_root or default_root()).resolve()
    seconds: dict[str, tuple[float, bool]] = {}
    run_seconds = None
    if execute:
        started = time.perf_counter()
        seconds = execute_study(profile_name, overrides, artifacts_root=root, progress=progress,
                                scheduler=scheduler, n_workers=n_workers, repo=repo)
        run_seconds = time.perf_counter() - started
    started = time.perf_counter()
    html = build_book(repo)
    build_seconds = time.perf_counter() - started
    findings = findings_for(profile, root)
    record = record_findings(repo, profile, root, findings) if findings is not None else None
    return StudyRun(html, seconds, findings, profile_name, run_seconds, build_seconds, record)
