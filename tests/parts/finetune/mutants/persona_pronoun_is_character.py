"""extract_lines gives every pronoun attribution ('said she') to the character, whoever spoke before."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_novel"]
PATCH = [
    ("            elif name.lower() in PRONOUNS:\n                speaker = previous\n",
     "            elif name.lower() in PRONOUNS:\n                speaker = True\n"),
]
