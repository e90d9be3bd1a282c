"""What a sandboxed worker sees: the one list of the paths it is handed and of the paths hidden from it.

Every sandboxed run, the probe worker and the notebook runner alike, sees of the machine's root only the
system folders (:data:`SYSTEM_FOLDERS`: programs, libraries, ``/etc``, devices, ``/proc``, ``/sys``),
read-only; everything else is:

* **hidden**, covered by an empty read-only tmpfs (a file by ``/dev/null``): every other entry of ``/``
  (:func:`root_hidden`: ``/home``, ``/root``, ``/opt``, ``/srv``, ``/var``, ``/mnt``, other checkouts of
  the course outside the system folders), and, wherever they lie, every entry of the course repository but its Python environment (solutions, hidden checks, tests, ``course.yml``), the folder that
  holds the repository, the grader package wherever the worker's Python would import it from, the folder
  the submission was graded from, what the caller adds (a class's results, :func:`hideable`), the
  temporary folder (other workers' folders), the grading user's home, ``/tmp``, ``/var/tmp`` and ``/run/lock``;
* **handed read-only**, shown even inside a hidden folder: the Python runtime (its prefixes and every
  folder on the worker interpreter's ``sys.path``) and the files a check's probes read, named by the check
  (``ProbeCall.reads``: the base model folder of a GPU check, under ``~/.cache/lora-course/models/``);
* **writable**: the worker's own folder only (by permissions, just its ``out/`` and ``scratch/``).

The notebook part's copy of the submission gets the tiny model its notebook imports (:data:`SUPPORT_FILES`).

The grading process decides the lists (:func:`course_hidden`, :func:`launch_paths`); the launcher adds,
in the worker's own interpreter, the runtime's folders and the grader's import locations
(:func:`worker_paths`) and mounts them. Standard library only: the launcher loads this file by path.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

GRADER_PACKAGE = "autograder"
GRADER_DIR = Path(__file__).resolve().parent.parent
# the entries of / a worker sees (read-only): what a Python runtime, its libraries and a GPU need
SYSTEM_FOLDERS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys"})
SHARED_WRITABLE = (Path("/tmp"), Path("/var/tmp"), Path("/run/lock"))  # /tmp too where the grader uses another
# the notebook part's copy of the submission gets these under tests/ (the notebook imports the tiny model)
SUPPORT_FILES = {"tiny_models.py": GRADER_DIR / "runtime" / "tiny_models.py"}
WORKER_PACKAGE = "grader_runtime"   # the name the worker imports its copy of the runtime under


def worker_environment(home: Path) -> dict[str, str]:
    """A worker's whole environment, its home and temporary folder ``home``."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
            # transformers, datasets and the Hub client must never try the network or the user's caches
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(home / "hf"), "TOKENIZERS_PARALLELISM": "false", "MPLCONFIGDIR": str(home),
            "TQDM_DISABLE": "1", "USER": "grader-worker", "LOGNAME": "grader-worker"}  # its uid has no account


def worker_code() -> dict[str, Path]:
    """The grader's code a probe worker gets, ``{path inside the worker's package: source}``: the runtime
    (worker, transport, tiny models, common probes) and each part's ``probes.py``, laid out as in the
    grader so the same relative imports hold, and nothing else of a part (never its checks, judges,
    helpers or the reference). The packages' ``__init__.py`` files are written empty (``""``)."""
    files: dict[str, Path] = {}
    for path in sorted((GRADER_DIR / "runtime").glob("*.py")):
        files[f"runtime/{path.name}"] = path
    for path in sorted((GRADER_DIR / "parts").glob("*/probes.py")):
        files[f"parts/{path.parent.name}/probes.py"] = path
    return files


def course_hidden(root: Path, solution: Path) -> list[Path]:
    """What no worker may see of a course: every entry of the repository ``root`` except the Python
    environment that runs the grader, the grader package and the ``solution`` wherever they are, and the
    folder that holds the repository (other checkouts or courses beside it)."""
    keep = {Path(sys.prefix).resolve()}
    paths = [entry for entry in sorted(Path(root).iterdir()) if entry.resolve() not in keep]
    for extra in (GRADER_DIR, Path(solution).resolve()):
        if not any(extra == path or path in extra.parents for path in paths):
            paths.append(extra)
    if Path(root).resolve().parent != Path("/"):
        paths.append(Path(root).resolve().parent)
    return paths


def root_hidden(root: Path = Path("/")) -> list[Path]:
    """Every entry of ``root`` but the system folders: an allow-list, so that a second checkout of the
    course, a results folder or a mounted disk is hidden wherever it lies (``/srv``, ``/work``, ``/mnt``...).
    A link is left alone: it leads into a system folder (``/bin``) or to a path covered on its own."""
    return [entry for entry in sorted(Path(root).iterdir())
            if entry.name not in SYSTEM_FOLDERS and not entry.is_symlink()]


def hideable(path: Path) -> bool:
    """Whether the worker can do without ``path``: not the temporary folder it runs in, nor an ancestor of
    it or of the Python environment that runs it."""
    path = Path(path).resolve()
    needed = (Path(tempfile.gettempdir()).resolve(), Path(sys.prefix).resolve())
    return not any(path == folder or path in folder.parents for folder in needed)


def handed_paths(reads: list[str] | tuple[str, ...]) -> list[str]:
    """The paths a part's probes read outside their work folder (``ProbeCall.reads``), resolved, existing
    and without duplicates; a path that does not exist is not handed (the probe then reports it missing)."""
    return sorted({os.path.realpath(path) for path in reads if os.path.exists(path)})


def launch_paths(hide: list[Path], handed: list[str], workdir: Path) -> dict:
    """The launcher's configuration of what the worker in ``workdir`` sees: ``hide`` plus every entry of
    ``/`` but the system folders, the temporary folder, the home folder and the shared writable folders; ``handed`` read-only; ``workdir`` writable."""
    hidden = [*root_hidden(), *hide, Path(workdir).parent, Path.home(), *SHARED_WRITABLE]
    return {"hide": [str(path) for path in hidden], "hand": list(handed), "writable": [str(workdir)],
            "hide_modules": [GRADER_PACKAGE]}


def runtime_paths() -> list[str]:
    """The folders this interpreter needs: its prefixes and every folder on its ``sys.path``."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(entry for entry in sys.path if entry and os.path.isdir(entry))
    return sorted({os.path.realpath(path) for path in paths})


def module_paths(names: list[str]) -> list[str]:
    """Where this interpreter would import each top-level package of ``names`` from (without importing
    it): an installed or editable copy of the grader may live apart from the course repository."""
    paths = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None:
            paths += list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])
    return paths


DISTRIBUTION = "lora_course"        # the grader's distribution, as its .dist-info and editable finder spell it


def grader_install() -> list[str]:
    """The grader's own entries in every ``site-packages`` of this interpreter's path: its package, its
    ``.dist-info`` (``direct_url.json`` names the repository) and an editable install's finder and
    ``.pth`` (which name it too). Landlock leaves them out of the runtime the worker may read."""
    found = []
    for folder in {os.path.realpath(entry) for entry in sys.path if entry.endswith(("site-packages", "dist-packages"))}:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name == GRADER_PACKAGE or DISTRIBUTION in name.lower().replace("-", "_"):
                found.append(os.path.join(folder, name))
    return sorted(found)


def worker_paths(config: dict) -> tuple[list[str], list[str], list[str]]:
    """``(hidden, handed read-only, writable)`` as the launcher mounts them, computed in the worker's own
    interpreter (the one that runs the launcher): the runtime is handed, the grader's locations hidden."""
    hidden = list(config["hide"]) + module_paths(config.get("hide_modules", [])) + grader_install()
    return hidden, [*config.get("hand", []), *runtime_paths()], list(config["writable"])
