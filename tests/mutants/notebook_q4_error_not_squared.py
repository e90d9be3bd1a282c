"""Question 4: takes the rank-r error as the share of the dropped singular values' sum, not the root of their squares."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q4_svd"]
PATCH = [("errors = [relative_error(W_real, low_rank_approx(W_real, r)) for r in ranks]",
          "errors = [float(spectrum_real[r:].sum() / spectrum_real.sum()) for r in ranks]")]
