"""Inside the sandbox: grade the submitted notebook with ``otter run`` and leave otter's ``results.json``.

Copied into the sandbox's work folder and started by :mod:`autograder.notebook.grade` as
``main(WORKDIR)``; it imports nothing of the grader (which the sandbox hides). ``WORKDIR`` holds
``submission.zip`` (the notebook and the student's package) and ``autograder.zip`` (otter's tests and
support files); otter executes the notebook in a fresh IPython kernel, runs every question's tests and
writes ``WORKDIR/out/results.json``, which the grading process reads back as data only.
"""

from __future__ import annotations

import os
from pathlib import Path


def main(workdir: Path) -> None:
    from otter.run import main as otter_run

    os.chdir(workdir / "scratch")
    otter_run(str(workdir / "submission.zip"), autograder=str(workdir / "autograder.zip"),
              output_dir=str(workdir / "out"), no_logo=True)
