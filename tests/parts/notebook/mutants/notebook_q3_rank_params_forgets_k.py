"""Question 3: counts the parameters of a rank-8 product as r * d, forgetting the r * k of the second factor."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q3_params"]
PATCH = [("rank8_params = 8 * (d + k)", "rank8_params = 8 * d")]
