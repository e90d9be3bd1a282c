"""Question 8: builds the training examples from the Caterpillar's lines instead of Alice's."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q8_persona"]
PATCH = [('examples = build_examples(PASSAGE, "Alice",', 'examples = build_examples(PASSAGE, "Caterpillar",')]
