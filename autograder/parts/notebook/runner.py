"""Inside the sandbox: execute the submitted notebook's cells in an IPython shell of this process, then
export the values the grader asked for, as plain data.

Copied into the sandbox's work folder (with :mod:`autograder.runtime.transport`) and started by
:mod:`autograder.engine.notebook` as ``main(WORKDIR)``; it imports nothing of the grader (which the
sandbox hides) and holds no test. ``WORKDIR/runtime/job.json`` names the notebook and, per question,
the expressions to export (``{question: {key: expression}}``). The notebook runs from the top in a
copy of ``WORKDIR/submission`` (the notebook, the student's package, ``tests/tiny_models.py``), which
is its working directory and the first entry of ``sys.path``, as in a Jupyter kernel started there:
every cell whatever the last one did (an exception, ``sys.exit``), with IPython's own cell semantics
(top-level ``await``, the last expression displayed). Then one more cell, in the same shell, evaluates
each expression and writes ``WORKDIR/out/<question>.json`` (+ ``.safetensors``) with
:func:`transport.write`.

The shell is IPython's ``InteractiveShell``, the one inside every ipykernel, without the kernel: no
second process, no ZeroMQ, no network, and (forked from a warm zygote) torch already imported. A cell
that ends the process (``os._exit``) or hangs ends the run, as it would end a kernel. Everything here
runs beside the student's code and can be changed by it: what it writes is a claim, which the grading
process validates and compares with the reference's own run.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
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
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    job = json.loads((workdir / "runtime" / "job.json").read_text(encoding="utf-8"))
    folder = workdir / "scratch" / "notebook"          # the student's copy, which the notebook may write in
    shutil.copytree(workdir / "submission", folder)
    notebook = nbformat.read(folder / job["notebook"], as_version=4)
    export = EXPORT_CELL.replace("{exports!r}", repr(job["exports"])).replace(
        "{out!r}", repr(str(workdir / "out"))).replace("{runtime!r}", repr(str(workdir / "runtime")))
    marks = {"imported": time.monotonic() - started}
    os.chdir(folder)                                   # where a kernel started for this notebook runs
    sys.path.insert(0, str(folder))
    sys.stdin = open(os.devnull, encoding="utf-8")     # input() ends at once, as in a kernel without stdin
    config = Config()
    config.HistoryManager.enabled = False               # no sqlite history in the sandbox's home
    shell = InteractiveShell.instance(config=config)
    marks["kernel_ready"] = time.monotonic() - started
    for cell in notebook.cells:
        if cell.cell_type == "code":
            shell.run_cell(cell.source, store_history=True)
    shell.run_cell(export, store_history=False)
    marks["executed"] = time.monotonic() - started
    # where the time went (for benchmarks only; the grader reads it as a claim, like everything here)
    (workdir / "out" / "timings.json").write_text(json.dumps(marks))
