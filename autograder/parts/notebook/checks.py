"""The lecture notebook's questions as checks of the part ``notebook``: ``notebook/<question>``.

Each question names the values its tests read (:attr:`Question.exports`: a key and the expression the
notebook's kernel evaluates after the whole notebook ran, built only from names the question states)
and its tests (:class:`Test`). The tests live here, in the grading process: they never enter the
sandbox or the student release (the notebook's public tests, which ``grader.check`` runs in Jupyter,
are only for the student). Like every check, a question plans one probe (the notebook's export) and
judges the student's values against the reference's, which come from the master notebook run the same
way (:mod:`autograder.engine.notebook`). A question scores the share of its tests that pass; a failed
test says, in the staff's words, which stated value or behaviour was wrong; a value that could not be
read says which name and the kind of error; no text the notebook produced is ever shown.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

import torch

from . import MATERIAL, recompute
from ...core.model import CHECKS, Check, Fail, Outcome, ProbeCall, Verdict, part_of

PART = part_of(__name__)
# the adapter file `save_adapter` wrote, as tensors (the grader loads them itself: `notebook.recompute`)
SAVED_ADAPTER = ("__import__('safetensors.torch', fromlist=['load_file'])"
                 ".load_file(str(adapter_dir / 'adapter_model.safetensors'))")


class Missing(Exception):
    """A value the notebook did not export (the name was undefined, or the expression raised)."""


class ReferenceMissing(Exception):
    """A value the master notebook did not export: a grader bug, which the judge reports as such."""


class Values:
    """One side's exported values; ``values["C_python"]`` raises :class:`Missing` for one that failed."""

    def __init__(self, exported: dict, reference: bool = False) -> None:
        self.exported = exported
        self.reference = reference

    def __getitem__(self, key: str) -> Any:
        entry = self.exported.get(key)
        if not isinstance(entry, dict) or entry.get("ok") is not True:
            if self.reference:
                raise ReferenceMissing(f"the master notebook did not export {key!r} ({self.error(key)})")
            raise Missing(key)
        return entry.get("value")

    def error(self, key: str) -> str:
        """The kind of error that kept ``key`` from being read: a Python identifier, or ``an error``."""
        error = str((self.exported.get(key) or {}).get("error", ""))
        return error if re.fullmatch(r"[A-Za-z_]\w{0,39}", error) else "an error"


@dataclass(frozen=True)
class Test:
    """One test of a question: ``says`` (shown when it fails) names the stated value or behaviour it
    judges, ``passes(student, reference)`` decides; an exception counts as a failure."""

    says: str
    passes: Callable[[Values, Values], Any]
    hidden: bool = True


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def tensor(value: Any) -> torch.Tensor:
    """A plain float64 tensor of ``value`` (a tensor or nested lists of numbers)."""
    if isinstance(value, torch.Tensor):
        if type(value) is not torch.Tensor:
            raise TypeError("not a plain tensor")
        return value.detach().to(torch.float64)
    return torch.tensor(value, dtype=torch.float64)


def close(got: Any, want: Any, atol: float = 1e-5, rtol: float = 0.0) -> bool:
    """Same shape and within ``atol + rtol * |want|`` everywhere (and finite)."""
    got, want = tensor(got), tensor(want)
    return got.shape == want.shape and bool(torch.isfinite(got).all()) and torch.allclose(got, want, atol=atol, rtol=rtol)


def largest_difference(got: Any, want: Any) -> float:
    """``max |got - want|`` of two values of the same shape (``inf`` when the shapes differ)."""
    got, want = tensor(got), tensor(want)
    return float((got - want).abs().max()) if got.shape == want.shape and got.numel() else math.inf


def rows_of(value: Any, rows: int, columns: int) -> bool:
    return (isinstance(value, list) and len(value) == rows
            and all(isinstance(row, list) and len(row) == columns and all(map(number, row)) for row in value))


def replies(examples: Any) -> list[str]:
    return [example["messages"][-1]["content"] for example in examples]


def free_names(expression: str) -> list[str]:
    """The notebook's names that ``expression`` reads, in order (not builtins, not names it binds itself)."""
    tree = ast.parse(expression, mode="eval")
    bound = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    names = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)]
    return list(dict.fromkeys(name for name in names if name not in bound and not hasattr(builtins, name)))


def learnt(adapter: Any, reference: Values, key: str = "adapter") -> bool:
    """Whether ``adapter`` (exported tensors) is the stated one and lowers the loss the grader computes on
    the reference's examples by at least a quarter of the drop of the reference's adapter ``key`` (never
    what the notebook reports: its losses are claims)."""
    examples, max_length = reference["examples"], reference["max_length"]
    base = recompute.loss(None, examples, max_length)
    drop = base - recompute.loss(recompute.validate(reference[key]), examples, max_length)
    if not drop > 0:
        raise ReferenceMissing("the master notebook's adapter does not lower the grader's loss")
    return base - recompute.loss(recompute.validate(adapter), examples, max_length) >= drop / 4


def trained(student: Values, reference: Values) -> bool:
    """Whether the adapter of ``result.model`` learnt (:func:`learnt`)."""
    return learnt(student["adapter"], reference)


def same_tensors(got: Any, want: Any) -> bool:
    """Two validated adapters with equal tensors."""
    got, want = recompute.validate(got), recompute.validate(want)
    return all(torch.equal(got[name], want[name]) for name in want)


@dataclass(frozen=True)
class Question:
    exports: dict[str, str]     # key -> expression evaluated in the notebook's kernel
    tests: tuple[Test, ...]


QUESTIONS: dict[str, Question] = {
    "q1_matmul": Question(
        {"C_python": "C_python", "max_abs_diff": "max_abs_diff", "hidden": "hidden", "product": "A_t @ B_t"},
        (Test("`C_python` is a list of 4 rows of 3 numbers", lambda s, r: rows_of(s["C_python"], 4, 3), hidden=False),
         Test("`max_abs_diff` is a Python float below 1e-5: the largest difference between `C_python` and `A_t @ B_t`",
              lambda s, r: type(s["max_abs_diff"]) is float and 0 <= s["max_abs_diff"] < 1e-5
              and abs(s["max_abs_diff"] - largest_difference(s["C_python"], r["product"])) <= 1e-6, hidden=False),
         Test("`C_python` is the product `A @ B` (within 1e-5)", lambda s, r: close(s["C_python"], r["C_python"])),
         Test("`hidden` is `relu(add_bias(C_python, bias))` of that product (within 1e-5)",
              lambda s, r: close(s["hidden"], r["hidden"])))),
    "q2_linear": Question(
        {"class": "type(manual_layer).__name__", "weight": "manual_layer.weight", "bias": "manual_layer.bias",
         "y_manual": "y_manual", "linear_max_diff": "linear_max_diff", "torch_out": "torch_layer(x_t)"},
        (Test("`manual_layer` is a `ManualLinear` and `y_manual` holds 5 rows of 4 numbers",
              lambda s, r: s["class"] == "ManualLinear" and rows_of(s["y_manual"], 5, 4), hidden=False),
         Test("`linear_max_diff` is a Python float below 1e-5: the largest difference between `y_manual` and "
              "`torch_layer(x_t)`",
              lambda s, r: type(s["linear_max_diff"]) is float and 0 <= s["linear_max_diff"] < 1e-5
              and abs(s["linear_max_diff"] - largest_difference(s["y_manual"], r["torch_out"])) <= 1e-6, hidden=False),
         Test("`y_manual` is `torch_layer(x_t)` (within 1e-5)", lambda s, r: close(s["y_manual"], r["y_manual"])),
         Test("`manual_layer` holds `torch_layer`'s weight, transposed to [in, out], and its bias",
              lambda s, r: close(s["weight"], r["weight"]) and close(s["bias"], r["bias"])))),
    "q3_params": Question(
        {"full_params": "full_params", "rank8_params": "rank8_params", "saving": "saving"},
        (Test("`full_params` is the number of weights of a 576 x 576 matrix",
              lambda s, r: number(s["full_params"]) and s["full_params"] == r["full_params"], hidden=False),
         Test("`rank8_params` is the number of parameters of a rank-8 product `B A` of that shape",
              lambda s, r: number(s["rank8_params"]) and s["rank8_params"] == r["rank8_params"], hidden=False),
         Test("`saving` is `compression_ratio(576, 576, 8)`",
              lambda s, r: number(s["saving"]) and abs(s["saving"] - r["saving"]) < 1e-9))),
    "q4_svd": Question(
        {"spectrum_lowrank": "spectrum_lowrank", "spectrum_real": "spectrum_real", "errors": "errors",
         "rank_999": "rank_999"},
        (Test("`errors` holds one Python float per rank in `ranks`",
              lambda s, r: isinstance(s["errors"], list) and len(s["errors"]) == len(r["errors"])
              and all(type(e) is float for e in s["errors"]), hidden=False),
         Test("`rank_999` is the rank that keeps 99.9% of `W_lowrank`'s energy",
              lambda s, r: number(s["rank_999"]) and s["rank_999"] == r["rank_999"], hidden=False),
         Test("`errors` are `relative_error(W_real, low_rank_approx(W_real, r))` for every `r` in `ranks` (within 1e-3)",
              lambda s, r: close(s["errors"], r["errors"], atol=1e-3)),
         Test("`spectrum_real` holds the singular values of `W_real`, largest first (`torch.linalg.svdvals`)",
              lambda s, r: close(s["spectrum_real"], r["spectrum_real"], atol=1e-4, rtol=1e-4)),
         Test("`spectrum_lowrank` holds the singular values of `W_lowrank`, largest first",
              lambda s, r: close(s["spectrum_lowrank"], r["spectrum_lowrank"],
                                 atol=1e-3 * float(tensor(r["spectrum_lowrank"]).max()), rtol=1e-4)))),
    "q5_fresh_lora": Question(
        {"fresh_max_diff": "fresh_max_diff", "lora_trainable": "lora_trainable", "class": "type(lora_layer).__name__",
         "lora_B": "lora_layer.lora_B", "base_trainable": "base_layer.weight.requires_grad",
         "lora_out": "lora_layer(x_lora)", "base_out": "base_layer(x_lora)"},
        (Test("`fresh_max_diff` is 0.0: `lora_layer(x_lora)` equals `base_layer(x_lora)`",
              lambda s, r: number(s["fresh_max_diff"]) and s["fresh_max_diff"] == 0.0
              and tensor(s["lora_out"]).shape == tensor(r["lora_out"]).shape
              and largest_difference(s["lora_out"], s["base_out"]) == 0.0, hidden=False),
         Test("`lora_trainable` counts the parameters of `lora_layer` that require gradients",
              lambda s, r: number(s["lora_trainable"]) and s["lora_trainable"] == r["lora_trainable"], hidden=False),
         Test("`lora_layer` is your `LoRALinear` with B initialised to zero",
              lambda s, r: s["class"] == "LoRALinear" and tensor(s["lora_B"]).shape == tensor(r["lora_B"]).shape
              and not bool(tensor(s["lora_B"]).abs().max() != 0)),
         Test("wrapping `base_layer` in `LoRALinear` froze its weight (it no longer requires gradients)",
              lambda s, r: s["base_trainable"] is False))),
    "q6_trainable": Question(
        {"trainable_by_r": "trainable_by_r"},
        (Test("`trainable_by_r` has one entry for every `r` in `r_values`",
              lambda s, r: isinstance(s["trainable_by_r"], dict) and sorted(s["trainable_by_r"]) == sorted(r["trainable_by_r"]),
              hidden=False),
         Test("doubling `r` doubles `trainable_by_r[r]`",
              lambda s, r: all(number(s["trainable_by_r"][k]) for k in r["trainable_by_r"])
              and all(s["trainable_by_r"][str(2 * int(k))] == 2 * s["trainable_by_r"][k]
                      for k in r["trainable_by_r"] if str(2 * int(k)) in r["trainable_by_r"]), hidden=False),
         Test("`trainable_by_r[r]` is the number of trainable parameters of LoRA on q_proj, k_proj, v_proj and "
              "o_proj of the base model", lambda s, r: s["trainable_by_r"] == r["trainable_by_r"]))),
    "q8_persona": Question(
        {"examples": "examples", "max_length": "MAX_LENGTH", "trainable_params": "result.trainable_params",
         "total_params": "result.total_params", "adapter": "__import__('peft').get_peft_model_state_dict(result.model)",
         "saved": SAVED_ADAPTER},
        (Test("the adapter of `result.model` (r=8 on q_proj, k_proj, v_proj and o_proj) was trained: on Alice's "
              "examples, the grader's loss with it is below the base model's by at least a quarter of what the "
              "reference's adapter gains", lambda s, r: trained(s, r), hidden=False),
         Test("the adapter saved in `adapter_dir` is the trained adapter of `result.model` (the same tensors)",
              lambda s, r: trained(s, r) and same_tensors(s["saved"], s["adapter"]), hidden=False),
         Test("every example of `examples` has the system prompt \"You are Alice.\" and the first reply is Alice's "
              "first line of `PASSAGE`",
              lambda s, r: len(s["examples"]) == len(r["examples"])
              and [e["messages"][0] for e in s["examples"]] == [e["messages"][0] for e in r["examples"]]
              and replies(s["examples"])[0] == replies(r["examples"])[0]),
         Test("`result.trainable_params` counts only the adapter's parameters (r=8 on the default targets), "
              "and `result.total_params` the whole model",
              lambda s, r: trained(s, r) and s["trainable_params"] == r["trainable_params"]
              and s["total_params"] == r["total_params"]))),
    # the reply of an adapter that learnt nothing is the base model's, whatever serves it: the saved adapter
    # must have learnt, as question 8 states (the examples and the master's adapter are the master's)
    "q9_service": Question(
        {"chat_reply": "chat_reply", "saved": SAVED_ADAPTER, "examples": "examples", "max_length": "MAX_LENGTH"},
        (Test("`chat_reply` is the JSON of Alice's reply, `{\"character\": \"Alice\", \"reply\": <text>}`, and the text "
              "is the greedy reply (12 new tokens) to \"Who are you?\" of the trained adapter saved in `adapter_dir`, "
              "as the grader computes it from that adapter",
              lambda s, r: learnt(s["saved"], r, "saved")
              and s["chat_reply"] == {"character": "Alice", "reply": recompute.reply(
                  recompute.validate(s["saved"]), [{"role": "system", "content": "You are Alice."},
                                                   {"role": "user", "content": "Who are you?"}], 12)},
              hidden=False),)),
}


class NotebookQuestion(Check):
    """One autograded question of the lecture notebook: its exported values, judged by its tests."""

    def __init__(self, question: str, title: str) -> None:
        self.id = f"{PART}/{question}"
        self.title = f"notebook: {title}"
        self.question = question
        self.exports = QUESTIONS[question].exports
        self.tests = QUESTIONS[question].tests

    def plan(self, rng: random.Random) -> list[ProbeCall]:
        return [ProbeCall(f"{PART}.export", {"question": self.question})]

    def judge(self, calls: list[ProbeCall], got: list[Outcome], want: list[Outcome]) -> Verdict | None:
        if not got[0].ok:
            raise Fail(got[0].missing or "your notebook's values never came back")
        if not want[0].ok:
            raise RuntimeError(f"the reference notebook exported nothing for {self.question}: {want[0].missing}")
        student, reference = Values(got[0].value), Values(want[0].value, reference=True)
        missing, failed = {}, []
        for test in self.tests:
            try:
                passed = test.passes(student, reference) is True
            except Missing as absent:
                missing[absent.args[0]] = student.error(absent.args[0])
                passed = False
            except ReferenceMissing:
                raise
            except Exception:  # noqa: BLE001 - a value of the wrong kind fails the test
                passed = False
            if not passed:
                failed.append(test)
        if not failed:
            return None
        lines = list(dict.fromkeys(
            f"{' or '.join(f'`{name}`' for name in free_names(self.exports[key]))} is not defined when your notebook "
            f"had run to its end" if error == "NameError" else
            f"reading {self._named(key)} raised {error} when your notebook had run to its end"
            for key, error in missing.items()))
        lines += [f"{'hidden' if test.hidden else 'public'} test failed: {test.says}" for test in failed]
        return Verdict((len(self.tests) - len(failed)) / len(self.tests), "\n".join(lines))

    def _named(self, key: str) -> str:
        expression = self.exports[key]
        return f"`{expression}`" if len(expression) <= 60 else f"`{key}` (from {', '.join(free_names(expression))})"


def questions() -> dict[str, str]:
    """The notebook's autograded questions and their titles (empty before the first ``course release``)."""
    path = MATERIAL / "questions.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


for _question, _title in questions().items():
    CHECKS[f"{PART}/{_question}"] = NotebookQuestion(_question, _title)
