"""The lecture notebook: released with ``otter assign``, graded with ``otter run`` in the sandbox.

* :mod:`.assign` turns the master notebook of the solutions (otter's assign format) into the student
  notebook of the release and the otter material of the hidden checks (``autograder/checks/lecture/``:
  every question's tests, hidden ones included, and each question's title).
* :mod:`.grade` grades the notebook part of ``course.yml``: the submitted notebook runs under
  ``otter run`` inside the same sandbox as the probes (:mod:`.runner` is what runs there), and otter's
  per-question scores come back as JSON and become the part's checks.
"""

from __future__ import annotations

from pathlib import Path

MATERIAL = Path(__file__).resolve().parent.parent / "checks" / "lecture"
TINY_MODEL_ENV = "LORA_COURSE_TINY_MODEL"
