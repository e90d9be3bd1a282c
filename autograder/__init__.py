"""The lora-course autograder: course.yml, the release pipeline, the sandboxed grader and the CLI.

Pipeline of one grade: :mod:`.submission` -> :mod:`.sandbox` (worker running :mod:`.runtime.probes`)
-> :mod:`.judge` (against :mod:`.reference`, with :mod:`.checks`) -> :mod:`.results`.
"""

__version__ = "0.1.0"
