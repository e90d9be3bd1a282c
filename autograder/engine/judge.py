"""Judge a part: compare the student's outcomes with the reference's, check by check, and score them.

Scores are computed here, in the grading process, from plain data only. Before any judge runs, every
student outcome is checked against its planned call and the reference's outcome for the same call
(``core.envelope``): one outcome per call, of the reference's form, or that call fails with the reason.
A check whose judge fails unexpectedly (malformed data, a grader bug) scores zero with a message instead
of stopping the grade. A :class:`~autograder.core.model.Claim` (a failure seen only in a fact the worker
reports about itself) costs at most ``CLAIM_POINTS`` of its check: a lie about it gains no more.
"""

from __future__ import annotations

import traceback

from ..core.config import CheckSpec
from ..core.envelope import validated
from ..core.model import CHECKS, CLAIM_POINTS, CheckResult, Claim, Fail, Outcome, PlannedCheck, Verdict


JUDGE_FAILED = ("the grader could not judge this check: an error of the grader; the course staff have the "
                "details (please tell them)")


def judge_check(planned: PlannedCheck, got: list[Outcome], want: list[Outcome]) -> CheckResult:
    check = CHECKS[planned.spec.id]
    try:
        verdict = check.judge(planned.calls, got, want) or Verdict(1.0, "")
    except Claim as claim:
        points = planned.spec.points
        verdict = Verdict(max(0.0, points - CLAIM_POINTS) / points if points else 0.0, str(claim))
    except Fail as failure:
        verdict = Verdict(0.0, str(failure))
    except Exception:  # noqa: BLE001 - never let one check stop the grade
        # the traceback names the grader's paths and shows the hidden check's source: staff log only
        staff = f"{planned.spec.id}: the judge failed:\n{traceback.format_exc()}"
        return CheckResult(planned.spec, check.title, 0.0, "failed", JUDGE_FAILED, staff=staff)
    fraction = min(1.0, max(0.0, float(verdict.fraction)))
    status = "passed" if fraction == 1.0 else "failed"
    return CheckResult(planned.spec, check.title, round(fraction * planned.spec.points, 4), status, verdict.feedback)


def not_run(spec: CheckSpec, reason: str) -> CheckResult:
    return CheckResult(spec, CHECKS[spec.id].title, 0.0, "not run", reason)


def judge_part(planned: list[PlannedCheck], got: list[Outcome], want: list[Outcome]) -> list[CheckResult]:
    """Check the student's outcomes against the plan and the reference's (one per call, of the reference's
    form), split the part's flat list back into checks and judge each one."""
    calls = [call for item in planned for call in item.calls]
    got = validated(calls, got, want)
    results, offset = [], 0
    for item in planned:
        size = len(item.calls)
        results.append(judge_check(item, got[offset:offset + size], want[offset:offset + size]))
        offset += size
    return results

