"""Question 6: plots the total number of parameters (count_parameters(...)[1]) instead of the trainable ones."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q6_trainable"]
PATCH = [("trainable_by_r[r] = count_parameters(adapted)[0]", "trainable_by_r[r] = count_parameters(adapted)[1]")]
