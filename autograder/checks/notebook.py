"""The lecture notebook's questions as checks of the part ``notebook``: ``notebook/<question>``.

Their tests are otter's (``lecture/tests/<question>.py``, written by ``course release`` from the master
notebook) and run inside the sandbox with the whole notebook, so these checks plan no probes:
:mod:`autograder.notebook.grade` turns otter's score of each question into the check's result. They are
registered here so that ``course.yml`` can list them and give them points like any other check.
"""

from __future__ import annotations

import json
import random

from ..notebook import MATERIAL
from .base import CHECKS, Check, Outcome, ProbeCall, Verdict

PART = "notebook"


class NotebookQuestion(Check):
    """One otter question of the lecture notebook."""

    def __init__(self, question: str, title: str) -> None:
        self.id = f"{PART}/{question}"
        self.title = f"notebook: {title}"
        self.question = question

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return []

    def judge(self, calls: list[ProbeCall], got: list[Outcome], want: list[Outcome]) -> Verdict | None:
        raise RuntimeError("notebook questions are judged by otter, see autograder.notebook.grade")


def questions() -> dict[str, str]:
    """The notebook's autograded questions and their titles (empty before the first ``course release``)."""
    path = MATERIAL / "questions.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


for _question, _title in questions().items():
    CHECKS[f"{PART}/{_question}"] = NotebookQuestion(_question, _title)
