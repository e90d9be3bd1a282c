"""Write submission.zip holding your lora_lab/ package and lecture.ipynb, ready to upload.

Usage: python make_submission.py [--out submission.zip]

It packs exactly what the grader reads: every file of lora_lab/ (your modules, chat.html, any data file
your code uses) and lecture.ipynb, and prints each one. Caches (__pycache__, .ipynb_checkpoints, *.pyc)
are left out. A symbolic link, or a package over the grader's limits, stops it with a message saying
what to change: the grader would refuse that zip.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "lora_lab"
NOTEBOOK = "lecture.ipynb"
# The grader's limits on a submission (autograder/submission.py; a test checks that the two agree).
MAX_FILES = 2000
MAX_BYTES = 64 * 1024 * 1024
CACHES = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


class SubmissionProblem(Exception):
    """Something in the folder the grader would refuse; the message says what to change."""


def collect(here: Path = HERE) -> list[Path]:
    """Every file to pack, relative to ``here``: the package's files, then the notebook when present."""
    package = here / PACKAGE
    if package.is_symlink() or not package.is_dir():
        raise SubmissionProblem(f"{package} is not a folder; keep your modules in {PACKAGE}/ next to this script")
    files = []
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(here)
        if CACHES & set(relative.parts) or path.suffix == ".pyc":
            continue
        if path.is_symlink():
            raise SubmissionProblem(f"{relative} is a symbolic link; the grader refuses links: "
                                    f"replace it by the file itself")
        if path.is_file():
            files.append(relative)
        elif not path.is_dir():
            raise SubmissionProblem(f"{relative} is not a regular file; remove it")
    if not any(path.suffix == ".py" for path in files):
        raise SubmissionProblem(f"no .py files found in {package}")
    notebook = here / NOTEBOOK
    if notebook.is_symlink():
        raise SubmissionProblem(f"{NOTEBOOK} is a symbolic link; the grader refuses links: copy the notebook here")
    if notebook.is_file():
        files.append(Path(NOTEBOOK))
    if len(files) > MAX_FILES:
        raise SubmissionProblem(f"{len(files)} files to pack; the grader accepts at most {MAX_FILES}: "
                                f"remove data files your code does not need")
    size = sum((here / path).stat().st_size for path in files)
    if size > MAX_BYTES:
        largest = max(files, key=lambda path: (here / path).stat().st_size)
        raise SubmissionProblem(f"the files to pack hold {size / 2**20:.1f} MB; the grader accepts at most "
                                f"{MAX_BYTES // 2**20} MB (the largest is {largest}, "
                                f"{(here / largest).stat().st_size / 2**20:.1f} MB): leave out model weights and data")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="submission.zip", help="where to write the zip (default: submission.zip)")
    args = parser.parse_args(argv)
    try:
        files = collect()
    except SubmissionProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for path in files:
        if path.suffix == ".py":
            try:
                compile((HERE / path).read_text(encoding="utf-8"), str(path), "exec")
            except (SyntaxError, UnicodeDecodeError) as error:
                where = f" (line {error.lineno}): {error.msg}" if isinstance(error, SyntaxError) else ""
                print(f"warning: {path.as_posix()} does not compile{where}; that part will score zero",
                      file=sys.stderr)
    if Path(NOTEBOOK) not in files:
        print(f"warning: {NOTEBOOK} is missing; its questions will score zero", file=sys.stderr)
    out = Path(args.out)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(HERE / path, path.as_posix())
            print(f"  packed {path.as_posix()}")
    print(f"wrote {out} with {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
