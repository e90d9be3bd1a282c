"""Question 6: adapts only q_proj (targets[0]) instead of all four attention projections."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q6_trainable"]
PATCH = [("adapted = apply_lora(copy.deepcopy(base_model), targets, r=r, alpha=2 * r)",
          "adapted = apply_lora(copy.deepcopy(base_model), targets[:1], r=r, alpha=2 * r)")]
