"""The CLI (:mod:`.cli`) and its commands: grade-all, slurm, gradescope, release, audit."""
