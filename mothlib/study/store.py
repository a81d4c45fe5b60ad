"""The artifact store: paths under ``artifacts/<profile>/``, manifests, atomic writes, resume.

Every stage of the study writes its outputs through :meth:`ArtifactStore.run_stage`:

* the stage's cache key is a hash of its parameters and of the content hashes of the stages it
  reads, so a stage is redone exactly when one of those changes (a papermill ``-p`` override
  never silently reuses stale results);
* outputs are first written into a private work folder and only moved into place when the
  stage succeeds; the manifest (``<stage>.manifest.json``) is written last and atomically, so a
  stage without a matching manifest is never taken as done;
* a long stage may keep checkpoints in :meth:`ArtifactStore.scratch`, which survives an
  interrupted run (same key) and is deleted once the stage completes.

Users read any stage's outputs with :func:`load` without knowing file names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mothlib import __version__

__all__ = [
    "ROOT_ENV", "default_root", "hash_params", "file_sha256", "atomic_write", "atomic_write_json",
    "ArtifactStore", "load",
]

#: Environment variable that moves the artifact root (default: ``./artifacts``).
ROOT_ENV = "MOTHLIB_ARTIFACTS"


def default_root() -> Path:
    """The artifact root: ``$MOTHLIB_ARTIFACTS`` (when set and not empty) or ``artifacts/`` in
    the working directory.

    The one place the default is decided: the stages, the store, the command line and the book
    all use it (``make book`` runs from the repository, so there it is the repository's).
    """
    return Path(os.environ.get(ROOT_ENV) or "artifacts")


def _canonical(obj: Any) -> Any:
    """JSON-stable form: tuples become lists, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return obj.item()
    return obj


def hash_params(params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of ``params``."""
    text = json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on success move it onto ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(_canonical(obj), handle, indent=2)


def _tree_hashes(path: Path, rel: str) -> dict[str, str]:
    """Content hashes of a file, or of every file under a folder, keyed by relative path."""
    if path.is_file():
        return {rel: file_sha256(path)}
    return {
        f"{rel}/{p.relative_to(path).as_posix()}": file_sha256(p)
        for p in sorted(path.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


class ArtifactStore:
    """Artifacts of one profile, under ``<root>/<profile>/``.

    Parameters
    ----------
    profile : str
        Profile name; names the folder.
    root : path, optional
        Artifact root; defaults to :func:`default_root`.
    """

    def __init__(self, profile: str, root: str | os.PathLike | None = None) -> None:
        if not profile or "/" in profile or profile.startswith("."):
            raise ValueError(f"invalid profile name {profile!r}")
        self.profile = profile
        self.root = Path(root) if root is not None else default_root()
        self.dir = self.root / profile

    def __repr__(self) -> str:
        return f"ArtifactStore(profile={self.profile!r}, dir={str(self.dir)!r})"

    # -- paths and manifests -------------------------------------------------------------
    def path(self, name: str) -> Path:
        """Absolute path of an output (file or folder) named ``name`` in this profile."""
        return self.dir / name

    def manifest_path(self, stage: str) -> Path:
        return self.dir / f"{stage}.manifest.json"

    def manifest(self, stage: str) -> dict[str, Any] | None:
        """The stage's manifest, or ``None`` when the stage has not completed."""
        path = self.manifest_path(stage)
        if not path.exists():
            return None
        with open(path) as handle:
            return json.load(handle)

    def require(self, stage: str) -> dict[str, Any]:
        """The stage's manifest; a clear ``FileNotFoundError`` when it is missing."""
        manifest = self.manifest(stage)
        if manifest is None:
            raise FileNotFoundError(
                f"stage {stage!r} of profile {self.profile!r} has no artifacts in {self.dir}; "
                f"run it first, e.g. `python -m mothlib study --profile {self.profile}`"
            )
        return manifest

    def stage_key(self, stage: str, params: dict[str, Any], inputs: Sequence[str] = ()) -> str:
        """Cache key of a stage: its parameters and the content hashes of its inputs."""
        upstream = {name: self.require(name)["outputs_hash"] for name in inputs}
        return hash_params({"stage": stage, "params": params, "inputs": upstream})

    def is_current(
        self, stage: str, params: dict[str, Any], inputs: Sequence[str] = ()
    ) -> bool:
        """True when the stage completed with these parameters and inputs, outputs intact."""
        manifest = self.manifest(stage)
        if manifest is None:
            return False
        try:
            key = self.stage_key(stage, params, inputs)
        except FileNotFoundError:
            return False
        if manifest.get("key") != key:
            return False
        if not all(self.path(rel).exists() for rel in manifest["outputs"]):
            return False
        # A cheap integrity check on every use; `verify` re-hashes the contents.
        sizes = manifest.get("sizes", {})
        return all(
            self.path(rel).is_file() and self.path(rel).stat().st_size == size
            for rel, size in sizes.items()
        )

    def verify(self, stage: str, *, invalidate: bool = True) -> list[str]:
        """Re-hash every file of a completed stage against its manifest.

        Returns the relative paths of missing, changed or unexpected files (empty when intact).
        With ``invalidate`` a damaged stage loses its manifest, so the next run recomputes it
        instead of using it.
        """
        manifest = self.require(stage)
        recorded: dict[str, str] = manifest["hashes"]
        found: dict[str, str] = {}
        for rel in manifest["outputs"]:
            if self.path(rel).exists():
                found.update(_tree_hashes(self.path(rel), rel))
        bad = sorted(
            {rel for rel, h in recorded.items() if found.get(rel) != h} | (set(found) - set(recorded))
        )
        if bad and invalidate:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.manifest_path(stage))
        return bad

    def scratch(self, stage: str, key: str) -> Path:
        """A checkpoint folder for an unfinished stage; it survives interruptions."""
        path = self.dir / ".partial" / f"{stage}-{key[:16]}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- running a stage -----------------------------------------------------------------
    def run_stage(
        self,
        stage: str,
        params: dict[str, Any],
        outputs: Sequence[str],
        compute: Callable[[Path, Path], None],
        *,
        inputs: Sequence[str] = (),
        force: bool = False,
    ) -> dict[str, Any]:
        """Run ``compute`` unless the stage is current; return its manifest.

        Parameters
        ----------
        stage : str
            Stage name (``data``, ``pruning``, ``motifs``, ...).
        params : dict
            Everything the stage's result depends on besides its inputs.
        outputs : sequence of str
            Names of the files or folders the stage writes, relative to the profile folder.
        compute : callable
            ``compute(workdir, scratch)`` writes every output under ``workdir`` (same relative
            names); ``scratch`` is a checkpoint folder that survives an interruption.
        inputs : sequence of str
            Stages this one reads; their content hashes enter the cache key.
        force : bool
            Recompute even when current.
        """
        key = self.stage_key(stage, params, inputs)
        if not force and self.is_current(stage, params, inputs):
            return self.require(stage)
        self.dir.mkdir(parents=True, exist_ok=True)
        scratch = self.scratch(stage, key)
        started = time.time()
        with tempfile.TemporaryDirectory(prefix=f".{stage}-work-", dir=self.dir) as tmp:
            workdir = Path(tmp)
            compute(workdir, scratch)
            missing = [rel for rel in outputs if not (workdir / rel).exists()]
            if missing:
                raise RuntimeError(f"stage {stage!r} did not write its outputs {missing}")
            # The old manifest goes first: from here until the new one lands the stage is
            # "not done", whatever state the outputs are in.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.manifest_path(stage))
            for rel in outputs:
                self._replace(workdir / rel, self.path(rel))
        hashes: dict[str, str] = {}
        for rel in outputs:
            hashes.update(_tree_hashes(self.path(rel), rel))
        sizes = {rel: self.path(rel).stat().st_size for rel in hashes}
        manifest = {
            "stage": stage,
            "profile": self.profile,
            "key": key,
            "params": params,
            "seed": params.get("seed"),
            "inputs": {name: self.require(name)["outputs_hash"] for name in inputs},
            "outputs": list(outputs),
            "hashes": hashes,
            "sizes": sizes,
            "outputs_hash": hash_params(hashes),
            "mothlib_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(time.time() - started, 3),
        }
        atomic_write_json(self.manifest_path(stage), manifest)
        shutil.rmtree(scratch, ignore_errors=True)
        return manifest

    @staticmethod
    def _replace(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_dir() and not dst.is_symlink():
            trash = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, trash)
            os.replace(src, dst)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(src, dst)

    # -- reading -------------------------------------------------------------------------
    def load(self, stage: str) -> Any:
        """Load a stage's outputs: one output is returned as is, several as a dict by name.

        Parquet files load as DataFrames, ``.npz`` as dicts of arrays, ``.json`` as objects,
        folders as dicts of their loaded files.
        """
        manifest = self.require(stage)
        loaded = {rel: _load_path(self.path(rel)) for rel in manifest["outputs"]}
        return next(iter(loaded.values())) if len(loaded) == 1 else loaded


def _load_path(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"artifact {path} is listed in its manifest but missing")
    if path.is_dir():
        return {p.name: _load_path(p) for p in sorted(path.iterdir()) if not p.name.startswith(".")}
    suffix = path.suffix
    if suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path)
    if suffix == ".npz":
        from mothlib.core.npio import load_npz

        return load_npz(path)
    if suffix == ".json":
        with open(path) as handle:
            return json.load(handle)
    return path


def load(stage: str, profile: str = "quick", root: str | os.PathLike | None = None) -> Any:
    """Load the outputs of ``stage`` for ``profile`` (see :meth:`ArtifactStore.load`).

    Examples
    --------
    >>> pruning = load("pruning", profile="quick")  # doctest: +SKIP
    """
    return ArtifactStore(profile, root).load(stage)
