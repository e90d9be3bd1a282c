"""The parts: one folder per part of ``course.yml``, ``parts/<id>/``, holding its hidden checks
(``checks.py``), its probes (``probes.py``, the only file of a part the sandboxed worker gets) and any
helper modules beside them; :mod:`.compare` and :mod:`.inputs` are the judging helpers the parts share.

Importing this package imports every part's ``checks.py`` so the registry (``CHECKS``, by id
``"<part>/<name>"``) is complete. Checks stay in the grading process: they are never copied into the
sandbox or the student release. :func:`load_course` checks ``course.yml`` and the registry against each
other, both ways.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..core import config
from ..core.model import CHECKS, Check, Fail, Outcome, ProbeCall, Verdict

PARTS_DIR = Path(__file__).resolve().parent
# every part with a folder of its own, in name order
PARTS = tuple(sorted(path.parent.name for path in PARTS_DIR.glob("*/checks.py")))

for _part in PARTS:
    importlib.import_module(f"{__name__}.{_part}.checks")


def load_course(path: Path | str) -> config.Course:
    """Load and validate ``course.yml`` against the parts: every check it lists must be registered in
    ``parts/<part>/checks.py`` and every check registered for a part it declares must be listed (a check
    missing from ``course.yml`` would silently never run). Raises :class:`~autograder.core.config.ConfigError`."""
    return config.load_course(path, known_checks=set(CHECKS))


__all__ = ["CHECKS", "PARTS", "Check", "Fail", "Outcome", "ProbeCall", "Verdict", "load_course"]
