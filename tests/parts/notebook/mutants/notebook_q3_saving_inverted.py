"""Question 3: computes the saving as rank-8 over full parameters (a fraction) instead of full over rank-8."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q3_params"]
PATCH = [("saving = compression_ratio(d, k, 8)", "saving = rank8_params / full_params")]
