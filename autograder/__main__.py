"""``python -m autograder ARGS`` runs ``course ARGS`` from this copy of the grader."""

import sys

from .cli import main

sys.exit(main())
