"""Open a submission (a folder or a .zip) and find the student's package in it.

Everything is read through :mod:`autograder.core.untrusted` into a private copy that the grader grades (so
the submission cannot change while it is graded, and nothing outside it is ever read): the package
folder and the notebooks beside it, regular files only, with the same limits for a folder as for a zip.
A file left out (a link, a device, a FIFO, a hard link, a name that is not UTF-8) is listed in
:attr:`Submission.problems`, one line each, and the report shows them. A submission that cannot be
graded at all raises :class:`SubmissionError` with a sentence the student or grader can act on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core.cleanup import remove_tree
from ..core.errors import CourseError
from ..core.untrusted import MAX_BYTES, MAX_FILES, SKIPPED, BadZip, Budget, TooLarge, bad_name, clean_text, \
    copy_file, copy_tree, extract_zip, open_folder, shown_name

__all__ = ["IGNORED", "MAX_BYTES", "MAX_FILES", "Submission", "SubmissionError", "open_submission", "package_digest"]
IGNORED = SKIPPED         # folders never read (make_submission.py leaves out the same caches)
SEARCH_DEPTH = 4          # the package may lie up to three folders down
SEARCH_ENTRIES = 20_000   # names looked at while searching for it


class SubmissionError(CourseError):
    """The submission cannot be graded at all (missing, unreadable, too large, no package inside)."""


@dataclass(frozen=True)
class Submission:
    """The validated private copy of a submission: ``root`` holds the package folder and the notebooks
    that were beside it, and nothing else; read the student's files from there only."""

    root: Path                       # the copy: <root>/<package>/..., <root>/<notebook>.ipynb
    label: str                       # what the user named, for reports
    digest: str                      # sha256 of every file of the copy (names and contents)
    problems: tuple[str, ...] = ()   # files left out of the copy, one line each


def _find_package(root: Path, package: str) -> Path:
    """The folder holding ``package/`` (at most three levels down), found without following links."""
    if root.name == package and any(name.endswith(".py") for name in _names(root)):
        return root.parent
    found, level, seen = [], [root], 0
    for _ in range(SEARCH_DEPTH):
        below = []
        for folder in level:
            for name in _names(folder):
                seen += 1
                if seen > SEARCH_ENTRIES:
                    raise SubmissionError(f"the submission holds more than {SEARCH_ENTRIES} names; "
                                          f"submit {package}/ and the notebook only")
                if name == package and os.path.islink(folder / name):
                    raise SubmissionError(f"{(folder / name).relative_to(root)} is a symbolic link; "
                                          f"submit the folder itself")
                if name in SKIPPED or bad_name(name) or not _is_folder(folder / name):
                    continue
                if name == package and any(inner.endswith(".py") for inner in _names(folder / name)):
                    found.append(folder / name)
                else:
                    below.append(folder / name)
        if found:
            break
        level = below
    if not found:
        raise SubmissionError(f"no {package}/ folder with .py files found in the submission; "
                              f"it must contain {package}/ with your modules (see the README: make a submission)")
    if len(found) > 1:
        listed = ", ".join(str(path.relative_to(root)) for path in found)
        raise SubmissionError(f"the submission holds several {package}/ folders ({listed}); keep only one")
    return found[0].parent


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as listing:
            return sorted(entry.name for entry in listing)
    except OSError:
        return []


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def package_digest(folder: Path) -> str:
    """SHA-256 of every file under ``folder``: relative names and contents, in name order. Names that
    are not valid UTF-8 are hashed as their bytes (the copy never holds any)."""
    digest = hashlib.sha256()
    for path in sorted(path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()):
        digest.update(os.fsencode(path.relative_to(folder).as_posix()) + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _copy(root: Path, package: str, copy: Path, budget: Budget, depth: int) -> None:
    """The package folder (``depth`` folders down in the submission) and the notebooks beside it, from
    ``root`` into ``copy``."""
    copy_tree(root / package, copy / package, budget, package, depth=depth)
    folder = open_folder(root)
    try:
        for name in _names(root):
            if name.endswith(".ipynb"):
                copy_file(folder, name, copy / name, budget, name)
    finally:
        os.close(folder)


def _refused(message: str) -> SubmissionError:
    """The one-line error of a submission that cannot be graded (names in it are the student's)."""
    return SubmissionError(clean_text(message, 1000, newlines=False))


@contextlib.contextmanager
def open_submission(path: Path | str, package: str) -> Iterator[Submission]:
    """Yield the :class:`Submission` at ``path`` (folder or .zip); temporary files go away afterwards."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix="lora-submission-"))
    try:
        budget = Budget()
        try:
            found = path.resolve()
            if path.is_file():
                if path.suffix.lower() != ".zip":
                    raise SubmissionError(f"{path} is neither a folder nor a .zip file")
                found = tmp / "unpacked"
                found.mkdir()
                extract_zip(path, found, budget)
                budget = Budget(left_out=budget.left_out)  # the copy reads the unpacked files once more
            root = _find_package(found, package)
            _copy(root, package, tmp / "copy", budget, depth=len(root.relative_to(found).parts) + 1)
        except SubmissionError as error:
            raise _refused(str(error)) from None
        except TooLarge as error:
            raise _refused(f"{path} cannot be graded: {error}; at most {MAX_FILES} files and "
                           f"{MAX_BYTES // 2**20} MB are accepted") from None
        except UnicodeDecodeError:
            raise _refused(f"{path} holds a file name that is not valid UTF-8; rename it") from None
        except (zipfile.BadZipFile, EOFError):
            raise _refused(f"{path} is not a valid .zip file") from None
        except BadZip as error:
            raise _refused(f"{path} is not a valid .zip file: {error}") from None
        except ValueError as error:
            raise _refused(f"{path} cannot be graded: {error}") from None
        except PermissionError as error:
            raise _refused(f"{path} cannot be read: {error.strerror}") from None
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as error:   # a name twice in the submission
            raise _refused(f"{path} cannot be graded: it holds "
                           f"{shown_name(os.path.basename(error.filename or ''))} twice") from None
        yield Submission(root=tmp / "copy", label=str(path), digest=package_digest(tmp / "copy"),
                         problems=tuple(budget.left_out))
    finally:
        remove_tree(tmp)
