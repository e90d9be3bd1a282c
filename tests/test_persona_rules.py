"""Every documented rule on every seed, judged the same way for everyone: the persona checks' seeded
passages hold each rule of persona.py's docstring on every seed, the same number of times, so a catalogue
mutant (one misread rule) loses the same points on every seed; extraction scores degrade with the share of
lines wrong; and build_examples is judged on the student's own extract_lines.

Runs in-process: the checks' plan and judge, the reference's persona module and the mutants' patched
copies, called directly (no sandbox, no model): about a second per check for 40 seeds.
"""

from __future__ import annotations

import random
import types
from collections import Counter
from pathlib import Path

import pytest

from autograder.commands.audit import load_alternate, load_mutant
from autograder.parts import CHECKS
from autograder.parts.finetune import passages
from autograder.core.model import Outcome

ROOT = Path(__file__).resolve().parent.parent
SEEDS = range(40)
EXTRACTION = ("finetune/extract_novel", "finetune/extract_play", "finetune/examples")
PERSONA_MUTANTS = sorted((ROOT / "tests" / "parts" / "finetune" / "mutants").glob("persona_*.py"))
PERSONA_ALTERNATES = sorted((ROOT / "tests" / "parts" / "finetune" / "alternates").glob("persona_*.py"))
# An independent reading of one rule, the one the issue found: a quotation continued over two paragraphs
# joined into one line. It must cost the same share on every seed, and nothing in finetune/examples.
JOIN_CONTINUED = [("        turns.append((speaker is True, words))\n",
                   "        if carried is not None and turns:\n"
                   "            turns[-1] = (turns[-1][0], turns[-1][1] + ' ' + words)\n"
                   "        else:\n"
                   "            turns.append((speaker is True, words))\n")]


def module_from(source: str, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def reference(assignment) -> types.ModuleType:
    return module_from((assignment.solution / "lora_lab" / "persona.py").read_text(), "reference_persona")


def outcome(module: types.ModuleType, call) -> Outcome:
    try:
        return Outcome(ok=True, value={"result": getattr(module, call.args["function"])(*call.args["args"],
                                                                                        **call.args.get("kwargs", {}))})
    except Exception as error:  # noqa: BLE001 - a mutant may raise; the judge reports it
        return Outcome(ok=False, error={"type": type(error).__name__, "message": str(error)})


def fraction(check_id: str, seed: int, student: types.ModuleType, reference: types.ModuleType) -> float:
    check = CHECKS[check_id]
    calls = check.plan(random.Random(seed))
    got = [outcome(student, call) for call in calls]
    want = [outcome(reference, call) for call in calls]
    try:
        verdict = check.judge(calls, got, want)
    except Exception as error:  # Fail: zero
        if type(error).__name__ != "Fail":
            raise
        return 0.0
    return 1.0 if verdict is None else verdict.fraction


def forms(passage: passages.Passage) -> Counter:
    return Counter((turn.form, turn.speaker == passage.character) for turn in passage.turns)


@pytest.mark.parametrize("maker", ["novel", "straight novel", "play", "examples"])
def test_every_rule_appears_the_same_number_of_times_on_every_seed(maker):
    make = {"novel": passages.novel, "straight novel": lambda rng: passages.novel(rng, straight=True),
            "play": passages.play, "examples": passages.examples_novel}[maker]
    counts = [forms(make(random.Random(seed))) for seed in SEEDS]
    assert all(count == counts[0] for count in counts), "the rules of a passage vary with the seed"
    rules = {form for form, _ in counts[0]}
    if maker.endswith("novel"):
        assert rules == set(passages.FORMS.values())   # each documented novel rule, every seed
        assert {form for form, mine in counts[0] if mine} == rules - {passages.FORMS["unattributed"],
                                                                     passages.FORMS["narrator"]}
    else:
        assert len(rules) >= 2


def test_the_reference_gets_full_marks_on_every_seed(reference):
    for check_id in EXTRACTION:
        assert [fraction(check_id, seed, reference, reference) for seed in SEEDS] == [1.0] * len(SEEDS), check_id


@pytest.mark.parametrize("path", PERSONA_ALTERNATES, ids=[path.stem for path in PERSONA_ALTERNATES])
def test_a_correct_alternate_gets_full_marks_on_every_seed(path, assignment, reference):
    alternate = load_alternate(path, assignment)
    student = module_from(alternate.source, alternate.name)
    for check_id in EXTRACTION:
        assert {fraction(check_id, seed, student, reference) for seed in SEEDS} == {1.0}, (alternate.name, check_id)


@pytest.mark.parametrize("path", PERSONA_MUTANTS, ids=[path.stem for path in PERSONA_MUTANTS])
def test_a_mutant_loses_the_same_points_on_every_seed(path, assignment, reference):
    mutant = load_mutant(path, assignment)
    student = module_from(mutant.source, mutant.name)
    for check_id in EXTRACTION:
        scores = {fraction(check_id, seed, student, reference) for seed in SEEDS}
        assert len(scores) == 1, f"{mutant.name} on {check_id}: {sorted(scores)} over {len(SEEDS)} seeds"
        if check_id in mutant.caught_by:
            assert scores != {1.0}, f"{mutant.name} is not caught by {check_id}"


def test_one_rule_read_the_other_way_costs_a_share_in_extraction_and_nothing_in_examples(assignment, reference):
    from autograder.commands.audit import apply_patch

    source = apply_patch((assignment.solution / "lora_lab" / "persona.py").read_text(), JOIN_CONTINUED, "joined")
    student = module_from(source, "joined_continued_quotations")
    novel = {fraction("finetune/extract_novel", seed, student, reference) for seed in SEEDS}
    # 8 lines of the character: the two of a continued quotation become one (2 missed, 1 wrong): 6 / 9 right
    assert novel == {0.66}, novel
    assert {fraction("finetune/examples", seed, student, reference) for seed in SEEDS} == {1.0}
    assert {fraction("finetune/extract_play", seed, student, reference) for seed in SEEDS} == {1.0}


def test_examples_are_judged_on_the_lines_the_students_extractor_returns_unless_they_are_mostly_wrong(reference):
    check = CHECKS["finetune/examples"]
    calls = check.plan(random.Random(3))
    want = [outcome(reference, call) for call in calls]
    turns = calls[-1].context["turns"]
    character = calls[0].args["args"][1]
    dropped = next(turn.words for turn in turns if turn.speaker == character)
    # an extractor that misses one line, and a build_examples consistent with it: full marks here
    lines = [line for line in want[-1].value["result"] if line != dropped]
    consistent = [Outcome(ok=True, value={"result": [example for example in reply.value["result"]
                                                     if example["messages"][2]["content"] != dropped]})
                  for reply in want[:2]]
    pairs = {line: example["messages"][1]["content"] for line, example in
             zip(lines, consistent[0].value["result"])}
    after = turns[[turn.words for turn in turns].index(dropped) + 1]
    if after.words in pairs:   # the line after the dropped one now follows someone else's turn
        for reply in consistent:
            for example in reply.value["result"]:
                if example["messages"][2]["content"] == after.words:
                    example["messages"][1]["content"] = dropped
    got = [*consistent, Outcome(ok=True, value={"result": lines})]
    assert check.judge(calls, got, want) is None
    # extract_lines returning nothing does not make an empty build_examples right
    empty = [Outcome(ok=True, value={"result": []})] * 3
    with pytest.raises(Exception, match="expected .* examples"):
        check.judge(calls, empty, want)
