"""Before any judge runs, every student outcome is checked against the plan and the reference's outcome for
the same call (autograder/core/envelope.py): a replaced probe cannot send a result of another form."""

from __future__ import annotations

import random

import torch

import autograder.parts  # noqa: F401 - fills the registry of checks
from autograder.core.config import CheckSpec
from autograder.core.envelope import FORM, MISSING, mismatch, validated
from autograder.core.model import CHECKS, Outcome, PlannedCheck, ProbeCall
from autograder.engine.judge import judge_part
from autograder.runtime.probes import ITEMS, VALUE
from autograder.parts.linear import probes as linear_probes
from autograder.parts.lora import probes as lora_probes


def planned(check: str, points: float = 3.0) -> PlannedCheck:
    spec = CheckSpec(id=check, points=points, gpu=False, visibility="visible")
    return PlannedCheck(spec, CHECKS[check].plan(random.Random(f"7/{check}")))


def reference_forward(call: ProbeCall) -> dict:
    """What linear's forward probe returns for ``call`` on a correct layer, computed here."""
    weight, bias = call.args["weight"], call.args["bias"] or [0.0] * len(call.args["weight"][0])

    def row(x):
        return [sum(xi * w[j] for xi, w in zip(x, weight)) + bias[j] for j in range(len(bias))]

    outputs = [row(x) if not isinstance(x[0], list) else [row(v) for v in x] for x in call.args["inputs"]]
    return {"forward": outputs, "call": outputs}


def test_an_empty_list_of_outputs_fails_with_the_reason():
    plan = planned("linear/forward")
    want = [Outcome(ok=True, value=reference_forward(call)) for call in plan.calls]
    got = [Outcome(ok=True, value={"forward": [], "call": []}) for _ in plan.calls]
    (result,) = judge_part([plan], got, want)
    assert result.score == 0 and FORM in result.feedback
    assert "result['forward'] holds 0 results, expected 2 (one per input)" in result.feedback
    (result,) = judge_part([plan], want, want)
    assert result.score == 3


def test_fewer_outcomes_than_calls_fail_the_missing_calls():
    plan = planned("linear/forward")
    want = [Outcome(ok=True, value=reference_forward(call)) for call in plan.calls]
    (result,) = judge_part([plan], want[:1], want)
    assert result.score == 0 and MISSING in result.feedback


def test_a_wrong_value_inside_the_envelope_keeps_its_teaching_feedback():
    plan = planned("linear/forward")
    want = [Outcome(ok=True, value=reference_forward(call)) for call in plan.calls]
    value = reference_forward(plan.calls[0])
    value["forward"][0] = [value["forward"][0]]   # a batch of one for a single vector
    (result,) = judge_part([plan], [Outcome(ok=True, value=value)] + want[1:], want)
    assert result.score == 0 and FORM not in result.feedback and "got a 1x" in result.feedback


def test_keys_and_exact_types_of_the_envelope():
    envelope = linear_probes.from_torch.envelope
    want = {"type": "ManualLinear", "weight": [[1.0]], "bias": None, "outputs": [[1.0], [2.0]]}
    assert mismatch(envelope, want, want) is None
    assert "missing 'outputs'" in mismatch(envelope, {k: v for k, v in want.items() if k != "outputs"}, want)
    assert "unexpected 'extra'" in mismatch(envelope, {**want, "extra": 1}, want)
    assert mismatch(envelope, {**want, "type": 1}, want) == "result['type'] should be str, got a int"
    assert mismatch(envelope, {**want, "outputs": "x"}, want).startswith("result['outputs'] should be a list")
    merging = lora_probes.merging.envelope
    assert mismatch(merging["merged_flag"], 1, True) == "the result should be bool, got a int"   # not a bool
    assert mismatch(merging["second_merge_error"], None, "ValueError") is None
    assert mismatch([bool], [True, "yes"], [True]) == "result[1] should be bool, got a str"
    assert mismatch(ITEMS, [], [1, 2]) and mismatch(VALUE, object(), 1) is None


def test_a_probe_that_declares_nothing_gets_the_reference_keys(monkeypatch):
    from autograder.parts.finetune import probes

    monkeypatch.delattr(probes.lora_config, "envelope", raising=False)   # any probe, without a declaration
    call = ProbeCall(probes.lora_config, {})
    want = [Outcome(ok=True, value={"a": 1, "b": [1]})]
    assert validated([call], [Outcome(ok=True, value={"a": 2, "b": []})], want)[0].ok
    failed = validated([call], [Outcome(ok=True, value={"a": 2})], want)[0]
    assert not failed.ok and failed.missing.startswith(FORM)


def test_errors_and_missing_results_are_left_to_the_judge():
    call = ProbeCall(lora_probes.forward, {})
    raised = Outcome(ok=False, error={"type": "ValueError", "message": "no", "where": ""})
    assert validated([call], [raised], [Outcome(ok=True, value={"outputs": [torch.zeros(1)]})]) == [raised]


def test_a_claim_costs_at_most_one_point():
    plan = planned("matmul/add_bias", points=2)
    want = [Outcome(ok=True, value={"result": [[11.0, 22.0, 33.0]], "mutated": []}) for _ in plan.calls[:2]] + [
        Outcome(ok=False, error={"type": "ValueError", "message": "length", "where": ""})]
    reference = [Outcome(ok=True, value={"result": call.args["args"][0], "mutated": []}) for call in plan.calls[:2]]
    # the student's values equal the reference's; only the worker's report of a modified input fails
    got = [Outcome(ok=True, value={"result": o.value["result"], "mutated": [0]}) for o in reference] + want[2:]
    (result,) = judge_part([plan], got, reference + want[2:])
    assert result.score == 1 and result.status == "failed" and "in place" in result.feedback
