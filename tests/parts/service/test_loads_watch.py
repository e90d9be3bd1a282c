"""service/loads_once counts opens from the grading process (inotify): of the adapter files it hands over,
and of every file the worker writes in its writable folders, so that a copy re-read on every request counts
like the original (tests/exploits/service_loads_from_copy.py grades the whole attack)."""

from __future__ import annotations

import subprocess
import sys

from autograder.core.model import Outcome
from autograder.sandbox.watch import OpenCounter, WatchedInputs


def test_a_copy_made_in_a_new_folder_of_the_writable_area_is_counted_from_outside(tmp_path):
    for name in ("inputs", "out", "scratch"):
        (tmp_path / name).mkdir()
    adapter = tmp_path / "inputs" / "adapter"
    adapter.write_bytes(b"x" * 100)
    counter = OpenCounter()
    counter.watch(tmp_path / "inputs")
    counter.follow(tmp_path, ("out", "scratch"))
    counter.start()
    # another process copies the adapter once into folders it makes (after a pause, so that they are
    # followed by then), then re-reads the copy five times, between reads of another file (the kernel merges
    # an open into an identical one still unread: a service generates between two reloads)
    copy = tmp_path / "scratch" / "cache" / "deep" / "adapter"
    other = tmp_path / "scratch" / "other"
    other.write_bytes(b"y")
    subprocess.run([sys.executable, "-c", f"import os, shutil, time\nos.makedirs({str(copy.parent)!r})\n"
                                          f"time.sleep(0.2)\nshutil.copy({str(adapter)!r}, {str(copy)!r})\n"
                                          f"for _ in range(5):\n    open({str(other)!r}, 'rb').read()\n"
                                          f"    open({str(copy)!r}, 'rb').read()"], check=True)
    counts = counter.stop()
    counter.close()
    assert counts[adapter] == 1 and counts[copy] == 6 and counts[other] == 6 and not counter.overflowed


def test_a_writable_folder_made_anew_is_followed_again(tmp_path):
    (tmp_path / "out").mkdir()
    counter = OpenCounter()
    counter.follow(tmp_path, ("out",))
    counter.start()
    (tmp_path / "out").rmdir()   # the sandbox empties out/ before every launch
    (tmp_path / "out").mkdir()
    result = tmp_path / "out" / "0000.json"
    other = tmp_path / "out" / "0000.txt"
    subprocess.run([sys.executable, "-c", f"import time\ntime.sleep(0.2)\nfor _ in range(3):\n"
                                          f"    open({str(result)!r}, 'w').write('1')\n"
                                          f"    open({str(other)!r}, 'w').write('1')"], check=True)
    counts = counter.stop()
    counter.close()
    assert counts == {result: 3, other: 3}


def test_observed_names_the_most_opened_files_of_the_writable_area(tmp_path):
    from autograder.core.model import ProbeCall
    from autograder.parts.service import probes

    call = ProbeCall(probes.loads, {"model_seed": 1, "characters": [{"name": "A", "seed": 3}], "requests": [],
                                    "max_new_tokens": 1}, inputs=probes.adapter_files)
    (tmp_path / "scratch").mkdir()
    inputs = WatchedInputs([call], tmp_path / "inputs", tmp_path)
    inputs.start()
    (tmp_path / "scratch" / "copy").write_bytes((tmp_path / "inputs" / "0000" / "a0" / "adapter_model.safetensors").read_bytes())
    for _ in range(4):   # opens of another file in between: the kernel merges back-to-back identical opens
        (tmp_path / "scratch" / "other").write_bytes(b"")
        (tmp_path / "scratch" / "copy").read_bytes()
    outcomes = [Outcome(ok=True, value={})]
    inputs.observe(outcomes)
    observed = outcomes[0].observed
    assert observed["opens"]["a0/adapter_model.safetensors"] == 1
    assert observed["written"] == {"scratch/copy": 5, "scratch/other": 4}
    assert list(observed["written"]) == ["scratch/copy", "scratch/other"]   # the most opened first


def test_the_files_of_each_life_of_a_folder_made_anew_are_counted_apart(tmp_path):
    """out/ is made anew before every launch, and each launch writes its own out/import.json: a worker
    restarted three times must not look like one that re-read a file six times."""
    from autograder.core.model import ProbeCall
    from autograder.parts.service import probes

    call = ProbeCall(probes.loads, {"model_seed": 1, "characters": [{"name": "A", "seed": 3}], "requests": [],
                                    "max_new_tokens": 1}, inputs=probes.adapter_files)
    (tmp_path / "out").mkdir()
    inputs = WatchedInputs([call], tmp_path / "inputs", tmp_path)
    inputs.start()
    for _ in range(3):
        (tmp_path / "out" / "import.json").unlink(missing_ok=True)
        (tmp_path / "out").rmdir()
        (tmp_path / "out").mkdir()
        subprocess.run([sys.executable, "-c", f"import time\ntime.sleep(0.2)\n"
                                              f"open({str(tmp_path / 'out' / 'import.json')!r}, 'w').write('1')\n"
                                              f"open({str(tmp_path / 'out' / 'other')!r}, 'w').write('1')\n"
                                              f"open({str(tmp_path / 'out' / 'import.json')!r}).read()"], check=True)
        (tmp_path / "out" / "other").unlink()
    outcomes = [Outcome(ok=True, value={})]
    inputs.observe(outcomes)
    assert outcomes[0].observed["written"] == {"out/import.json": 2, "out/other": 1}
