"""The grading process sees, from outside, which installed packages a worker's processes have mapped
(``sandbox.limiter.packages_mapped``, read from ``/proc/<pid>/maps``; ``matmul/pure_python`` rests on it)."""

from __future__ import annotations

import subprocess
import sys

from autograder.sandbox.limiter import packages_mapped, tree_packages

CHILD = "import sys; sys.stdin.readline(); import numpy; print('imported', flush=True); sys.stdin.readline()"


def test_a_package_shows_in_the_maps_once_imported_whatever_sys_modules_says():
    process = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert "numpy" not in packages_mapped(process.pid)
        process.stdin.write("go\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "imported"
        assert "numpy" in packages_mapped(process.pid) and "numpy" in tree_packages(process.pid)
    finally:
        process.kill()
        process.wait()


def test_a_process_that_hides_its_maps_is_refused_not_believed():
    hidden = ("import ctypes, sys; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); import numpy; print('hidden', flush=True); "
              "sys.stdin.readline()")
    process = subprocess.Popen([sys.executable, "-c", hidden], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "hidden"
        try:
            found = packages_mapped(process.pid)
        except PermissionError:
            return   # a grader that is not root cannot read it: the grant is refused, the check fails
        assert "numpy" in found   # root reads it all the same
    finally:
        process.kill()
        process.wait()
