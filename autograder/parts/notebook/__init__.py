"""The lecture notebook: released with ``otter assign``; graded on values it exports from the sandbox.

* :mod:`.assign` turns the master notebook of the solutions (otter's assign format) into the student
  notebook of the release with its public tests, and the grader's list of autograded questions
  (``autograder/parts/notebook/lecture/questions.json``, written by ``course release``).
* :mod:`.grade` grades the notebook part of ``course.yml``: the submitted notebook runs in the same
  sandbox as the probes (:mod:`.runner` is what runs there), exports the values its questions' tests
  read as plain data, and the tests of :mod:`autograder.parts.notebook.checks` judge them in the grading
  process against the master notebook's values. No test ever enters the sandbox.
* :mod:`.recompute` is what the grading process computes itself from the adapter tensors the
  notebook exports (questions 8 and 9): the loss on its own batch and the greedy reply.
"""

from __future__ import annotations

from pathlib import Path

# written by `course release` (which replaces the folder whole): keep it apart from the code
MATERIAL = Path(__file__).resolve().parent / "lecture"
TINY_MODEL_ENV = "LORA_COURSE_TINY_MODEL"
