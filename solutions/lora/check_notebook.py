"""Run lecture.ipynb from top to bottom outside Jupyter and print what each grader.check cell says.

Usage: python check_notebook.py [QUESTION ...] [--real-model]

The notebook runs in a fresh kernel from this folder, every cell in order, as the grader runs it: with the
tiny random model (LORA_COURSE_TINY_MODEL=1, seconds) unless --real-model is given. Then the result of
each question's public tests (tests/q*.py) is printed, or only of the questions named. The notebook file
itself is not changed. Exit code 0 when every public test shown passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "lecture.ipynb"
MARK = "@@public-tests@@"
# Run in the notebook's kernel after its last cell: each question's public tests, as grader.check runs them.
CHECKS = """
import json as _json, otter as _otter
_results = {}
for _question in %r:
    try:
        _result = _otter.Notebook(tests_dir="tests").check(_question, globals())
        _results[_question] = [bool(_result.passed_all_public), _result.summary(public_only=True)]
    except Exception as _error:
        _results[_question] = [False, f"{type(_error).__name__}: {_error}"]
print(%r + _json.dumps(_results))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("questions", nargs="*", help="only these questions (e.g. q4_svd); default: all")
    parser.add_argument("--real-model", action="store_true", help="use the real base model, not the tiny one")
    args = parser.parse_args(argv)
    import nbformat
    from nbclient import NotebookClient

    known = sorted(path.stem for path in (HERE / "tests").glob("q*.py"))
    unknown = sorted(set(args.questions) - set(known))
    if not NOTEBOOK.is_file() or unknown or not known:
        problem = f"{NOTEBOOK.name} not found next to this script" if not NOTEBOOK.is_file() else \
            f"no public tests for {', '.join(unknown or ['any question'])} in tests/ (known: {', '.join(known)})"
        print(f"error: {problem}", file=sys.stderr)
        return 2
    questions = args.questions or known
    if not args.real_model:
        os.environ["LORA_COURSE_TINY_MODEL"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS % (questions, MARK)))
    print(f"running {NOTEBOOK.name} ({'real' if args.real_model else 'tiny'} model) ...", flush=True)
    NotebookClient(notebook, timeout=1800, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    for number, cell in enumerate(notebook.cells[:-1]):
        errors = [output for output in cell.get("outputs", []) if output.get("output_type") == "error"]
        if errors and not cell.source.lstrip().startswith("grader.check("):
            print(f"cell {number} raised {errors[0].get('ename')}: {errors[0].get('evalue')}")
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].get("outputs", []))
    if MARK not in printed:
        print("error: the public tests could not run after the notebook's last cell", file=sys.stderr)
        return 2
    results = json.loads(printed.split(MARK, 1)[1])
    failed = 0
    for question in questions:
        passed, summary = results[question]
        failed += not passed
        print(f"{question}: {'passed' if passed else 'FAILED'}")
        if not passed:
            print("  " + summary.strip().replace("\n", "\n  "))
    print(f"{len(questions) - failed} of {len(questions)} questions passed their public tests "
          f"(the grader runs hidden tests too)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
