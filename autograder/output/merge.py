"""Combine a CPU grade and a GPU grade of one submission into one Gradescope result.

Without CUDA the GPU checks are reported as not run (no ``status``, ``max_score`` 0). ``course grade
--only gpu`` on a CUDA machine grades just those checks; :func:`merge_results` puts its tests in place
of the not-run ones and sums scores and maxima again from the tests. Both files must come from the
same submission and the same grader (``submission_sha256`` and ``checks_sha256`` of the provenance).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import CourseError


class MergeError(CourseError):
    """The two results cannot be combined; one sentence for the user."""


def read_json(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{path} does not exist") from None
    except (OSError, ValueError) as error:
        raise MergeError(f"{path} is not a readable results.json: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise MergeError(f"{path} is not a results.json of `course grade` (no tests)")
    for number, test in enumerate(data["tests"], start=1):
        problem = _test_problem(test)
        if problem:
            raise MergeError(f"{path} is not a results.json of `course grade`: its test {number} {problem}")
    return data


def _test_problem(test: object) -> str | None:
    """What is missing from one entry of ``tests`` for merging, or ``None``."""
    if not isinstance(test, dict):
        return "is not a mapping"
    if not isinstance(test.get("name"), str):
        return "has no name"
    for key in ("score", "max_score"):
        if isinstance(test.get(key), bool) or not isinstance(test.get(key), (int, float)):
            return f"({test['name']}) has no number {key}"
    tags = test.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(tag, str) for tag in tags):
        return f"({test['name']}) has no tags (the first is its part)"
    return None


def _staff(results: dict) -> list:
    staff = (results.get("extra_data") or {}).get("staff")
    return list(staff) if isinstance(staff, list) else []


def _ran(test: dict) -> bool:
    return "status" in test


def merge_results(cpu: dict, gpu: dict) -> dict:
    """``cpu`` with every not-run GPU test replaced by ``gpu``'s graded one; scores and maxima summed
    from the tests, per part and in total."""
    provenance = (cpu.get("extra_data") or {}).get("provenance") or {}
    gpu_provenance = (gpu.get("extra_data") or {}).get("provenance") or {}
    for key, what in (("submission_sha256", "submissions"), ("checks_sha256", "graders (course.yml or checks)")):
        if provenance.get(key) != gpu_provenance.get(key):
            raise MergeError(f"the two results come from different {what}: {key} differs")
    if not gpu_provenance.get("cuda_available"):
        raise MergeError("the GPU results were graded without CUDA, so their GPU checks did not run; grade "
                         "with `course grade SUBMISSION --only gpu` on a machine with CUDA")
    graded = {test["name"]: test for test in gpu["tests"] if _ran(test) and "gpu" in test.get("tags", [])}
    if not graded:
        raise MergeError("the GPU results hold no graded GPU check")
    known = {test["name"] for test in cpu["tests"]}
    unknown = sorted(set(graded) - known)
    if unknown:
        raise MergeError(f"the GPU results grade checks the CPU results do not have: {', '.join(unknown)}")
    tests, replaced = [], []
    for test in cpu["tests"]:
        if not _ran(test) and test["name"] in graded:
            tests.append({**graded[test["name"]], "number": test["number"]})
            replaced.append(test["name"])
        else:
            tests.append(test)
    parts: dict[str, dict[str, float]] = {}
    for test in tests:
        part = parts.setdefault(test["tags"][0], {"score": 0.0, "max_score": 0.0})
        part["score"] = round(part["score"] + test["score"], 4)
        part["max_score"] += test["max_score"]
    stale = set((cpu.get("extra_data") or {}).get("gpu_hint") or ())   # the CPU grade says which lines these are
    output = "\n".join(line for line in str(cpu.get("output", "")).splitlines() if line not in stale)
    output += "\n\nGPU checks, graded on a machine with CUDA:\n" + gpu.get("output", "")
    return {
        **cpu,
        "score": round(sum(test["score"] for test in tests), 4),
        "max_score": sum(test["max_score"] for test in tests),
        "execution_time": round(cpu.get("execution_time", 0) + gpu.get("execution_time", 0), 3),
        "output": output,
        "tests": tests,
        "extra_data": {**(cpu.get("extra_data") or {}), "parts": parts, "gpu_provenance": gpu_provenance,
                       "merged_gpu_checks": replaced,
                       # both grades' staff logs (a grader error's traceback), still hidden from students
                       "staff": [*_staff(cpu), *_staff(gpu)]},
    }
