"""How a command starts ``course`` again in a fresh interpreter (``grade-all`` one per submission, the
Gradescope zip's ``run_autograder``): imported by those commands and by the CLI, importing none of them."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent   # the folder holding the ``autograder`` package
# Run the CLI in a fresh interpreter from a given copy of the grader: ``python -I -c CLI_BOOT ROOT ARGS``.
CLI_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); from autograder.commands.cli import main; sys.exit(main())"


def cli_command(*args: str) -> list[str]:
    """The command line running ``course ARGS`` with this very grader, in an isolated interpreter
    (``-I``: no current folder, ``PYTHONPATH`` or user site), whichever copy of it is installed."""
    return [sys.executable, "-I", "-c", CLI_BOOT, str(PACKAGE_ROOT), *args]
