"""Question 8: builds the examples without the system prompt "You are Alice.", so training and serving disagree."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q8_persona"]
PATCH = [('examples = build_examples(PASSAGE, "Alice", system_prompt="You are Alice.")',
          'examples = build_examples(PASSAGE, "Alice")')]
