"""Question 4: builds the rank-r approximation as U_r @ Vh_r, forgetting the singular values S_r in between."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q4_svd"]
PATCH = [("errors = [relative_error(W_real, low_rank_approx(W_real, r)) for r in ranks]",
          "U, S, Vh = torch.linalg.svd(W_real, full_matrices=False)\n"
          "errors = [relative_error(W_real, U[:, :r] @ Vh[:r]) for r in ranks]")]
