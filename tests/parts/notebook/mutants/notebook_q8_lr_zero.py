"""Question 8: trains with a learning rate of 0, so the adapter never changes and the loss never falls."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q8_persona"]
PATCH = [("steps=STEPS, lr=5e-3,", "steps=STEPS, lr=0.0,")]
