"""What every benchmark shares: the machine description and writing its JSON results."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import torch   # here, not at import: benchmarks/exploits.py --each-alone stays small beside its auditors

    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "platform": sys.platform, "processor": platform.machine()}


def write_results(path: Path | str, results: dict) -> None:
    """Write ``results`` (plus the machine description) as JSON and say where."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**results, "machine": machine()}, indent=2) + "\n")
    print(f"wrote {path}")


def current_rss() -> int:
    """Resident memory of this process now, in bytes (Linux; the peak so far elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def page_in(model: Any) -> None:
    """Read every weight once: ``load_model`` memory-maps the safetensors file, so the weights only become
    resident (and count in RSS) when something reads them."""
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            parameter.sum()
