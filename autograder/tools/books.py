"""Project Gutenberg books by id or path, from a local library folder or (online) from gutenberg.org.

The library folder is ``$GUTENBERG_LIBRARY`` or the ``persona.library`` of ``course.yml``; books in it
are named ``<id>-<title>.txt``, ``<id>.txt`` or ``pg<id>.txt``. A book that is nowhere local is downloaded
once into the cache (``$LORA_COURSE_CACHE/gutenberg``) when downloading is allowed; tests and CI never
download.
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..core.errors import CourseError

DOWNLOAD_URL = "https://www.gutenberg.org/cache/epub/{id}/pg{id}.txt"


class BookError(CourseError):
    """A book cannot be found, read or downloaded; the message says what to do."""


def _library_dirs(library: str | Path | None) -> list[Path]:
    from ..core.models import cache_dir

    folders = [Path(p).expanduser() for p in (os.environ.get("GUTENBERG_LIBRARY"), library) if p]
    return folders + [cache_dir() / "gutenberg"]


def find_book(book: str | int, library: str | Path | None = None) -> Path | None:
    """The local file of ``book`` (a path, or a Gutenberg id looked up in the library folders), or ``None``."""
    text = str(book)
    if not text.isdigit():
        path = Path(text).expanduser()
        if not path.is_file():
            raise BookError(f"book {text!r} is neither a Gutenberg id nor an existing file")
        return path
    pattern = re.compile(rf"^(?:pg)?{text}(?:-.*)?\.txt$")
    for folder in _library_dirs(library):
        if folder.is_dir():
            matches = sorted(path for path in folder.iterdir() if pattern.match(path.name))
            if matches:
                return matches[0]
    return None


def download_book(book_id: int | str, url: str = DOWNLOAD_URL, timeout: float = 60) -> Path:
    """Download a book into the cache (atomically) and return its path."""
    from ..core.models import cache_dir

    target = cache_dir() / "gutenberg" / f"{book_id}.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    address = url.format(id=book_id)
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            data = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise BookError(f"cannot download book {book_id} from {address}: {getattr(error, 'reason', error)}; "
                        f"put the book's .txt in a folder and set GUTENBERG_LIBRARY to it") from None
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as handle:
        handle.write(data)
    os.replace(handle.name, target)
    return target


def read_book(book: str | int, library: str | Path | None = None, download: bool = False) -> str:
    """The raw text of ``book`` (header and footer still there when the file has them)."""
    path = find_book(book, library)
    if path is None:
        if not download:
            raise BookError(f"book {book} is not in the library ({', '.join(map(str, _library_dirs(library)))}); "
                            f"set GUTENBERG_LIBRARY to a folder holding it, or pass --download")
        path = download_book(book)
    try:
        return path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as error:
        raise BookError(f"cannot read {path}: {error.strerror}") from None
