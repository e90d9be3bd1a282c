"""extract_lines treats a pronoun attribution ('said he') as unknown instead of giving it to the previous speaker."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_novel"]
PATCH = [
    ("            elif name.lower() in PRONOUNS:\n                speaker = previous\n",
     "            elif name.lower() in PRONOUNS:\n                speaker = None\n"),
]
