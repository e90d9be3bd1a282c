"""Open a submission (a folder or a .zip) and find the student's package in it.

Zips are extracted safely into a temporary folder: no absolute paths, no ``..``, no links, and limits
on the number and size of files. Problems are reported as :class:`SubmissionError` with a sentence
the student or grader can act on.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

MAX_FILES = 2000
MAX_BYTES = 64 * 1024 * 1024
IGNORED = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints"}


class SubmissionError(Exception):
    """The submission cannot be graded at all (missing, unreadable, no package inside)."""


@dataclass(frozen=True)
class Submission:
    root: Path       # the folder that contains the package folder
    label: str       # what the user named, for reports
    digest: str      # sha256 of the package's files, for seeds and provenance


def _extract(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            if len(members) > MAX_FILES:
                raise SubmissionError(f"{archive} holds {len(members)} files; at most {MAX_FILES} are accepted")
            if sum(member.file_size for member in members) > MAX_BYTES:
                raise SubmissionError(f"{archive} unpacks to more than {MAX_BYTES // 2**20} MB")
            for member in members:
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
                    raise SubmissionError(f"{archive} contains an unsafe path: {member.filename!r}")
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise SubmissionError(f"{archive} contains a symbolic link: {member.filename!r}")
            bundle.extractall(target)
    except zipfile.BadZipFile:
        raise SubmissionError(f"{archive} is not a valid .zip file") from None


def _find_package(root: Path, package: str) -> Path:
    """The folder holding ``package/`` (at most three levels down)."""
    if root.name == package and any(root.glob("*.py")):
        return root.parent
    found = []
    for depth in range(4):
        for candidate in root.glob("/".join(["*"] * depth + [package])):
            if candidate.is_dir() and not IGNORED & set(candidate.relative_to(root).parts) \
                    and any(candidate.glob("*.py")):
                found.append(candidate)
        if found:
            break
    if not found:
        raise SubmissionError(f"no {package}/ folder with .py files found in the submission; "
                              f"it must contain {package}/ with your modules (see the README: make a submission)")
    if len(found) > 1:
        listed = ", ".join(str(path.relative_to(root)) for path in found)
        raise SubmissionError(f"the submission holds several {package}/ folders ({listed}); keep only one")
    return found[0].parent


def package_digest(package_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        digest.update(str(path.relative_to(package_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@contextlib.contextmanager
def open_submission(path: Path | str, package: str) -> Iterator[Submission]:
    """Yield the :class:`Submission` at ``path`` (folder or .zip); temporary files go away afterwards."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix="lora-submission-") as tmp:
        if path.is_file():
            if path.suffix.lower() != ".zip":
                raise SubmissionError(f"{path} is neither a folder nor a .zip file")
            _extract(path, Path(tmp))
            root = _find_package(Path(tmp), package)
        else:
            try:
                root = _find_package(path.resolve(), package)
            except PermissionError as error:
                raise SubmissionError(f"{path} cannot be read: {error.strerror}") from None
            # A copy would follow a link out of the submission (say, to the solutions on Gradescope).
            links = [link for link in (root / package).rglob("*") if link.is_symlink()]
            if links or not (root / package).resolve().is_relative_to(path.resolve()):
                where = links[0].relative_to(root) if links else package
                raise SubmissionError(f"{path} contains a symbolic link ({where}); submit plain files")
            # Grade a private copy so the submission cannot change while it is graded.
            copy = Path(tmp) / package
            shutil.copytree(root / package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            for notebook in root.glob("*.ipynb"):  # the lecture notebook sits next to the package
                shutil.copyfile(notebook, Path(tmp) / notebook.name)
            root = Path(tmp)
        yield Submission(root=root, label=str(path), digest=package_digest(root / package))
