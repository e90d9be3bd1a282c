"""Judge a part: compare the student's outcomes with the reference's, check by check, and score them.

Scores are computed here, in the grading process, from plain data only. A check whose judge fails
unexpectedly (malformed data, a grader bug) scores zero with a message instead of stopping the grade.
"""

from __future__ import annotations

import traceback

from ..core.config import CheckSpec
from ..core.model import CHECKS, CheckResult, Fail, Outcome, PlannedCheck, Verdict


def judge_check(planned: PlannedCheck, got: list[Outcome], want: list[Outcome]) -> CheckResult:
    check = CHECKS[planned.spec.id]
    try:
        verdict = check.judge(planned.calls, got, want) or Verdict(1.0, "")
    except Fail as failure:
        verdict = Verdict(0.0, str(failure))
    except Exception:  # noqa: BLE001 - never let one check stop the grade
        verdict = Verdict(0.0, "the grader could not judge this check (please report it to the course staff):\n"
                          + traceback.format_exc(limit=3))
    fraction = min(1.0, max(0.0, float(verdict.fraction)))
    status = "passed" if fraction == 1.0 else "failed"
    return CheckResult(planned.spec, check.title, round(fraction * planned.spec.points, 4), status, verdict.feedback)


def not_run(spec: CheckSpec, reason: str) -> CheckResult:
    return CheckResult(spec, CHECKS[spec.id].title, 0.0, "not run", reason)


def judge_part(planned: list[PlannedCheck], got: list[Outcome], want: list[Outcome]) -> list[CheckResult]:
    """Split the part's flat list of outcomes back into checks and judge each one."""
    results, offset = [], 0
    for item in planned:
        size = len(item.calls)
        results.append(judge_check(item, got[offset:offset + size], want[offset:offset + size]))
        offset += size
    return results

