"""``python -m autograder ARGS`` runs ``course ARGS`` from this copy of the grader."""

import sys

from .commands.cli import main

sys.exit(main())
