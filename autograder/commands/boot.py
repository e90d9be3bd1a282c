"""How a command starts ``course`` again in a fresh interpreter (``grade-all`` one per submission, the
Gradescope zip's ``run_autograder``): imported by those commands and by the CLI, importing none of them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..core.errors import CourseError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent   # the folder holding the ``autograder`` package
# Run the CLI in a fresh interpreter from a given copy of the grader: ``python -I -c CLI_BOOT ROOT ARGS``.
CLI_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); from autograder.commands.cli import main; sys.exit(main())"
# The pid of the parent with which a started ``course`` must end (the Slurm array script sets it).
DIE_WITH_ENV = "LORA_COURSE_DIE_WITH"


def cli_command(*args: str) -> list[str]:
    """The command line running ``course ARGS`` with this very grader, in an isolated interpreter
    (``-I``: no current folder, ``PYTHONPATH`` or user site), whichever copy of it is installed."""
    return [sys.executable, "-I", "-c", CLI_BOOT, str(PACKAGE_ROOT), *args]


def die_with_parent() -> None:
    """With ``$LORA_COURSE_DIE_WITH`` (its parent's pid), this process is killed when its parent ends, and
    ends at once if it has already: a Slurm task cancelled while the process tracker had lost its grade
    takes the grade with it. Its children do not inherit the variable (the sandbox's launchers and zygotes
    die with their own parents)."""
    value = os.environ.pop(DIE_WITH_ENV, "")
    if not value:
        return
    if not value.isdigit():
        raise CourseError(f"${DIE_WITH_ENV} must be a process id, not {value!r}")
    from ..sandbox import launcher

    launcher.die_with_parent(int(value))
