"""The lora-course autograder: course.yml, the release pipeline, the sandboxed grader and the CLI.

Pipeline of one grade: :mod:`.engine.submission` -> :mod:`.sandbox` (worker running the probes of
:mod:`.parts`) -> :mod:`.engine.judge` (against :mod:`.engine.reference`, with the checks of
:mod:`.parts`) -> :mod:`.output.results`. The layers and their order: README.md, *Layers*.
"""

import os
from pathlib import Path

__version__ = "0.1.0"


def course_cache() -> Path:
    """Where the course keeps what it builds once: converted models, assembled GGUFs, torch's caches."""
    return Path(os.environ.get("LORA_COURSE_CACHE") or Path.home() / ".cache" / "lora-course")


# Importing peft makes torch's inductor create its cache folder in the temporary folder, which a grade
# must leave as it found it; the cache goes with the course's own instead.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(course_cache() / "torchinductor"))
