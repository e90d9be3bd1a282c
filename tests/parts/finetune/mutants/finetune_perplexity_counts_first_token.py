"""perplexity divides by the number of tokens of each text instead of the number of predicted tokens (one fewer)."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/perplexity"]
PATCH = [
    ("        count += len(ids) - 1\n", "        count += len(ids)\n"),
]
