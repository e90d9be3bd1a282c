"""Question 4: asks rank_for_energy about the real weight W_real instead of the rank-8 matrix W_lowrank."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q4_svd"]
PATCH = [("rank_999 = rank_for_energy(W_lowrank, 0.999)", "rank_999 = rank_for_energy(W_real, 0.999)")]
