"""Subcommands of ``python -m mothlib`` beyond the study's own: :mod:`~mothlib.cli.motifs`
(``mothlib motifs``: motif counts and z-scores of a network file). Nothing to import from here.
"""

__all__: list[str] = []
