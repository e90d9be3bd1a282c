"""tokenize_examples drops every example longer than max_length instead of cutting it to its first max_length tokens."""

MODULE = "persona"
CAUGHT_BY = ["finetune/labels"]
PATCH = [
    ("        full, labels = full[:max_length], labels[:max_length]\n",
     "        if len(full) > max_length:\n            continue\n"),
]
