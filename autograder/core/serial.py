"""One lock for the grading process's own torch work.

Planning inputs, writing a worker's input files, the reference's probes and judging all run probe or
check code in the grading process, and much of it seeds torch's global generator (a tiny model is
built from a seed). Parts are graded side by side (their sandboxed workers run in parallel), so that
work holds :data:`TRUSTED`: one part's seeding can never change another part's inputs or reference.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

TRUSTED = threading.RLock()   # re-entrant: the reference's run writes its own input files


def trusted(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """``function(*args)`` holding :data:`TRUSTED`, and the seconds it ran (not counting the wait)."""
    with TRUSTED:
        started = time.monotonic()
        return function(*args), time.monotonic() - started
