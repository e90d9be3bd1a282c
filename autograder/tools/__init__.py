"""Course tooling beside the grader: base models, books, persona adapters."""
