"""Write (or check) README's findings table from a finished run's stored artifacts.

The table between README's ``<!-- findings:start -->`` and ``<!-- findings:end -->`` markers is
generated, never typed: this script reads the pruning and motif tables of a run
(``mothlib.study.findings.study_findings``, nothing recomputed) and renders them with
:func:`findings_markdown`.

    python benchmarks/readme_findings.py --profile quick              # print the table
    python benchmarks/readme_findings.py --profile quick --write      # put it into README.md
    python benchmarks/readme_findings.py --profile quick --check      # exit 1 if README differs
    python benchmarks/readme_findings.py --figure                     # docs/motifs.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- findings:start -->", "<!-- findings:end -->"
HEADER = "| the paper's finding | criterion | measured | holds |\n|---|---|---|---|"


def findings_markdown(findings: pd.DataFrame, source: str) -> str:
    """The findings (``study_findings``'s table) as README's Markdown block.

    ``source`` says which run they are from (profile, when the motif stage finished); it is
    printed above the table.
    """
    missing = {"finding", "claim", "criterion", "measured", "holds"} - set(findings.columns)
    if missing:
        raise ValueError(f"findings table lacks columns {sorted(missing)}")
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|")  # a pipe (|z|) would split the Markdown cell

    rows = [
        f"| {int(r.finding)}. {cell(r.claim)} | {cell(r.criterion)} | {cell(r.measured)} | "
        f"{'yes' if r.holds else 'no'} |"
        for r in findings.itertuples()
    ]
    return "\n".join([f"Generated from {source} by `python benchmarks/readme_findings.py`:", "",
                      HEADER, *rows])


def write_figure(path: Path = REPO / "docs" / "motifs.png") -> Path:
    """README's figure: the eight motifs as mothlib draws them (PNG via vl-convert)."""
    import vl_convert

    from mothlib.report.motif_svg import all_motifs_svg
    from mothlib.study.store import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        handle.write(vl_convert.svg_to_png(all_motifs_svg(), scale=1.5))
    return path


def run_findings(profile: str, root: Path | None = None) -> str:
    """README's block for the stored run of ``profile`` under ``root`` (default: ./artifacts)."""
    from mothlib.study.findings import study_findings
    from mothlib.study.profiles import get_profile
    from mothlib.study.store import ArtifactStore

    store = ArtifactStore(profile, root=root)
    manifest_path = store.dir / "motifs.manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"no finished motif stage in {store.dir}: run the study first")
    when = json.loads(manifest_path.read_text())["created"]
    threshold = get_profile(profile)["loss_threshold"]
    table = study_findings(store, threshold)
    return findings_markdown(table, f"the `{profile}` run whose motif stage finished {when} "
                                    f"(loss threshold {threshold:g})")


def readme_block(text: str) -> str:
    """What README holds between the markers."""
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    if match is None:
        raise ValueError(f"README has no {START} ... {END} block")
    return match.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--root", type=Path, default=None, help="artifact root (default ./artifacts)")
    parser.add_argument("--readme", type=Path, default=REPO / "README.md")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="replace README's block")
    group.add_argument("--check", action="store_true", help="exit 1 when README's block differs")
    group.add_argument("--figure", action="store_true", help="write docs/motifs.png and stop")
    args = parser.parse_args(argv)
    if args.figure:
        print(write_figure())
        return 0
    block = run_findings(args.profile, args.root)
    if not (args.write or args.check):
        print(block)
        return 0
    text = args.readme.read_text()
    old = readme_block(text)
    if args.check:
        if old != block:
            print("README's findings table differs from the stored run's:\n" + block, file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(text.replace(f"{START}\n{old}\n{END}", f"{START}\n{block}\n{END}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
