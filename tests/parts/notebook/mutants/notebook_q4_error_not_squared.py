"""Question 4: takes the rank-r error as the dropped share of the singular values' sum, not of their squares."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q4_svd"]
PATCH = [("errors = [relative_error(W_real, low_rank_approx(W_real, r)) for r in ranks]",
          "errors = [float(spectrum_real[r:].sum() / spectrum_real.sum()) for r in ranks]")]
