"""Question 4: takes singular values as square roots of eigvalsh(W^T W), which come in ascending order, not sorted descending."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q4_svd"]
PATCH = [("spectrum_real = torch.linalg.svdvals(W_real)",
          "spectrum_real = torch.linalg.eigvalsh(W_real.T @ W_real).clamp(min=0).sqrt()")]
