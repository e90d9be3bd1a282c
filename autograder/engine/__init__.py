"""Grading one submission: the grading loop, the judge, the reference run in-process, the submission read
into a private copy, and the notebook part run in the sandbox."""
