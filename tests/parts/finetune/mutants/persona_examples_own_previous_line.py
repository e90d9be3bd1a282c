"""build_examples uses the turn just before as the user message even when the character said it too."""

MODULE = "persona"
CAUGHT_BY = ["finetune/examples"]
PATCH = [
    ("            prompt = previous[1] if previous and not previous[0] else NEUTRAL_PROMPT\n",
     "            prompt = previous[1] if previous else NEUTRAL_PROMPT\n"),
]
