"""The ``relevance`` command (also ``python -m core``): the only code that reads argparse and prints for a person.

``main`` builds the parser from ``core.cli.main`` plus the subcommands of ``core.cli.models`` (train,
distill, score), ``core.cli.campaigns`` and ``core.cli.flags_notes`` (flags, query notes); the library below
returns values and raises typed errors.
"""

from core.cli.main import main

__all__ = ["main"]
