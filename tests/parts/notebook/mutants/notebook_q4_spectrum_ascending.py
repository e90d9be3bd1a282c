"""Question 4: takes the singular values as roots of eigvalsh(W^T W), in ascending order, not descending."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q4_svd"]
PATCH = [("spectrum_real = torch.linalg.svdvals(W_real)",
          "spectrum_real = torch.linalg.eigvalsh(W_real.T @ W_real).clamp(min=0).sqrt()")]
