"""tokenize_examples sets labels = input_ids, so the loss also trains on the system prompt and the user's line."""

MODULE = "persona"
CAUGHT_BY = ["finetune/labels"]
PATCH = [
    ("        labels = [-100] * len(prompt) + full[len(prompt):]\n",
     "        labels = list(full)\n"),
]
