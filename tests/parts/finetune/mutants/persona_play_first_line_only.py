"""extract_lines cuts a play speech after its first line of verse instead of running on to the blank line or next speaker."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_play"]
PATCH = [
    ("        elif speaker is not None:\n            words.append(line)\n",
     "        elif speaker is not None and not \"\".join(words).strip():\n            words.append(line)\n"),
]
