"""Is a student's outcome of the form the reference's outcome has for the same call?

A probe runs in the student's process, so the student's code can replace it and send back anything: a
list of no results where the judge expects one per input, a missing key, a string where a flag should be.
Before any judge runs, the grading process checks every outcome against the envelope the probe declares
(``runtime.probes.returns``; the grading process reads its own copy of the probe, never the worker's)
and against the reference's outcome for the same call. An outcome of another form fails its call with
"the result was not of the expected form: ...". The student's values inside the envelope (``VALUE``,
the items of ``ITEMS``) are left to the judges, whose feedback explains a wrong shape or type.

A probe that declares nothing gets the envelope the reference's outcome shows: a dict of exactly its keys.
"""

from __future__ import annotations

from typing import Any

from ..runtime.probes import ITEMS, VALUE, get_probe
from .model import Outcome, ProbeCall

FORM = "the result was not of the expected form"
MISSING = "no result came back for this call (the worker sent fewer results than calls)"


def _type_name(kind: Any) -> str:
    return "None" if kind is None else kind.__name__


def _described(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return "None" if value is None else f"a {type(value).__name__}"


def _where(path: str) -> str:
    return f"result{path}" if path else "the result"


def mismatch(envelope: Any, got: Any, want: Any, path: str = "") -> str | None:
    """Where ``got`` leaves ``envelope`` (checked beside the reference's ``want``), or ``None``."""
    if envelope == VALUE:
        return None
    if envelope == ITEMS:
        if type(got) is not list:
            return f"{_where(path)} should be a list of results, one per input, got {_described(got)}"
        if type(want) is list and len(got) != len(want):
            return f"{_where(path)} holds {len(got)} results, expected {len(want)} (one per input)"
        return None
    if isinstance(envelope, dict):
        if type(got) is not dict:
            return f"{_where(path)} should be a dict, got {_described(got)}"
        if set(got) != set(envelope):
            missing, extra = sorted(set(envelope) - set(got)), sorted(set(got) - set(envelope))
            said = [f"missing {', '.join(map(repr, missing))}" if missing else "",
                    f"unexpected {', '.join(repr(key)[:40] for key in extra[:5])}" if extra else ""]
            return f"{_where(path)} has other keys than expected ({'; '.join(text for text in said if text)})"
        for key, inner in envelope.items():
            found = mismatch(inner, got[key], want.get(key) if type(want) is dict else None, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(envelope, list):
        if type(got) is not list:
            return f"{_where(path)} should be a list, got {_described(got)}"
        for index, item in enumerate(got):
            found = mismatch(envelope[0], item, None, f"{path}[{index}]")
            if found:
                return found
        return None
    kinds = envelope if isinstance(envelope, tuple) else (envelope,)
    if not any(got is None if kind is None else type(got) is kind for kind in kinds):
        return (f"{_where(path)} should be {' or '.join(_type_name(kind) for kind in kinds)}, "
                f"got {_described(got)}")
    return None


def envelope_of(call: ProbeCall, want: Outcome) -> Any:
    """The envelope of ``call``'s probe: its declaration, or the reference's dict keys."""
    try:
        declared = getattr(get_probe(call.probe), "envelope", None)
    except KeyError:   # not a function of a part's probes.py (the notebook's export): the reference's form
        declared = None
    if declared is not None:
        return declared
    if want.ok and type(want.value) is dict:
        return {key: VALUE for key in want.value}
    return VALUE


def validated(calls: list[ProbeCall], got: list[Outcome], want: list[Outcome]) -> list[Outcome]:
    """The student's outcomes, one per planned call, each either of the reference's form or failed with
    the reason it is not (an outcome that is an error or missing is kept: the judge explains it)."""
    checked = []
    for index, call in enumerate(calls):
        outcome = got[index] if index < len(got) and isinstance(got[index], Outcome) else None
        if outcome is None:
            checked.append(Outcome(ok=False, missing=MISSING))
            continue
        reference = want[index] if index < len(want) else None
        if outcome.ok and reference is not None and reference.ok:
            try:
                found = mismatch(envelope_of(call, reference), outcome.value, reference.value)
            except Exception:  # noqa: BLE001 - hostile data never stops the grade: the call fails
                found = "it could not be read"
            if found:
                outcome = Outcome(ok=False, missing=f"{FORM}: {found}", observed=outcome.observed)
        checked.append(outcome)
    return checked
