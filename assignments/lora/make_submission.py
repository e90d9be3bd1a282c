"""Write submission.zip holding your lora_lab/ package and lecture.ipynb, ready to upload.

Usage: python make_submission.py [--out submission.zip]
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "lora_lab"
NOTEBOOK = "lecture.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="submission.zip", help="where to write the zip (default: submission.zip)")
    args = parser.parse_args(argv)
    package = HERE / PACKAGE
    files = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        print(f"error: no .py files found in {package}", file=sys.stderr)
        return 2
    for path in files:
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        except SyntaxError as error:
            print(f"warning: {path.relative_to(HERE)} has a syntax error (line {error.lineno}): {error.msg}; "
                  f"that part will score zero", file=sys.stderr)
    out = Path(args.out)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(path, path.relative_to(HERE).as_posix())
        if (HERE / NOTEBOOK).is_file():
            bundle.write(HERE / NOTEBOOK, NOTEBOOK)
        else:
            print(f"warning: {NOTEBOOK} is missing; its questions will score zero", file=sys.stderr)
    print(f"wrote {out} with {len(files)} files from {PACKAGE}/" + (f" and {NOTEBOOK}" if (HERE / NOTEBOOK).is_file() else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
