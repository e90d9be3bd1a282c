"""The one base class of the errors a user makes or can fix: a misuse or an input that cannot be used.

Each is raised where the misuse is found (an unknown assignment or part, a bad option, an unreadable
submission, results file or course.yml) with one sentence saying what is wrong. The ``course`` command
prints it as one line, ``course: error: ...``, and exits with status 2; any other exception is a bug
in the grader and is shown as one, never disguised as a usage error.
"""

from __future__ import annotations


class CourseError(Exception):
    """A problem with what the user asked for or gave; its message is one sentence for them."""
