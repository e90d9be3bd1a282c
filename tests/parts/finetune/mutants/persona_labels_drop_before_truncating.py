"""tokenize_examples checks for a reply token before truncating, so an example cut inside its prompt is kept with all labels -100."""

MODULE = "persona"
CAUGHT_BY = ["finetune/labels"]
PATCH = [
    ("        full, labels = full[:max_length], labels[:max_length]\n"
     "        if all(label == -100 for label in labels):\n"
     "            continue\n",
     "        if all(label == -100 for label in labels):\n"
     "            continue\n"
     "        full, labels = full[:max_length], labels[:max_length]\n"),
]
