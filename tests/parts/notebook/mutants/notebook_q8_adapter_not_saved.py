"""Question 8: trains the adapter but never saves it to adapter_dir, so there is nothing to serve."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q8_persona", "notebook/q9_service"]
PATCH = [("save_adapter(result.model, adapter_dir)\n", "")]
