"""Inside the sandbox: execute the submitted notebook in a fresh kernel, then export the values the
grader asked for, as plain data.

Copied into the sandbox's work folder (with :mod:`autograder.runtime.transport`) and started by
:mod:`autograder.engine.notebook` as ``main(WORKDIR)``; it imports nothing of the grader (which the
sandbox hides) and holds no test. ``WORKDIR/runtime/job.json`` names the notebook and, per question,
the expressions to export (``{question: {key: expression}}``). The notebook runs from the top in a
copy of ``WORKDIR/submission`` (the notebook, the student's package, ``tests/tiny_models.py``), every
cell whatever the last one did; then one more cell, in the same kernel, evaluates each expression and
writes ``WORKDIR/out/<question>.json`` (+ ``.safetensors``) with :func:`transport.write`. Everything
here runs beside the student's code and can be changed by it: what it writes is a claim, which the
grading process validates and compares with the reference's own run.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

EXPORT_CELL = '''\
def __lora_course_export(exports, out, runtime):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("__lora_course_transport", runtime + "/transport.py")
    transport = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(transport)
    namespace = get_ipython().user_ns
    for question, keys in exports.items():
        values = {}
        for key, expression in keys.items():
            try:
                values[key] = {"ok": True, "value": eval(expression, namespace)}
            except BaseException as error:  # noqa: BLE001 - the grader says which value was missing
                values[key] = {"ok": False, "error": type(error).__name__}
        try:
            transport.write(Path(out) / question, values)
        except BaseException as error:  # noqa: BLE001 - e.g. a value that cannot be encoded
            transport.write(Path(out) / question, {key: {"ok": False, "error": type(error).__name__} for key in keys})


__lora_course_export({exports!r}, {out!r}, {runtime!r})
'''


def main(workdir: Path) -> None:
    started = time.monotonic()
    import nbformat
    from nbclient import NotebookClient

    job = json.loads((workdir / "runtime" / "job.json").read_text(encoding="utf-8"))
    folder = workdir / "scratch" / "notebook"          # the student's copy, which the notebook may write in
    shutil.copytree(workdir / "submission", folder)
    notebook = nbformat.read(folder / job["notebook"], as_version=4)
    export = EXPORT_CELL.replace("{exports!r}", repr(job["exports"])).replace(
        "{out!r}", repr(str(workdir / "out"))).replace("{runtime!r}", repr(str(workdir / "runtime")))
    notebook.cells.append(nbformat.v4.new_code_cell(export))
    marks = {"imported": time.monotonic() - started}
    first_cell = lambda **_: marks.setdefault("kernel_ready", time.monotonic() - started)  # noqa: E731
    client = NotebookClient(notebook, timeout=job["cell_timeout"], kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}}, on_cell_start=first_cell)
    client.execute()
    marks["executed"] = time.monotonic() - started
    # where the time went (for benchmarks only; the grader reads it as a claim, like everything here)
    (workdir / "out" / "timings.json").write_text(json.dumps(marks))
