"""What every benchmark shares: the machine description and writing its JSON results."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "platform": sys.platform, "processor": platform.machine()}


def write_results(path: Path | str, results: dict) -> None:
    """Write ``results`` (plus the machine description) as JSON and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**results, "machine": machine()}, indent=2) + "\n")
    print(f"wrote {path}")
