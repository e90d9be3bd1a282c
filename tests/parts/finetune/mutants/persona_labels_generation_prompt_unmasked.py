"""tokenize_examples builds the prompt without add_generation_prompt, so '<|im_start|>assistant\\n' keeps its labels (mask off by a few tokens)."""

MODULE = "persona"
CAUGHT_BY = ["finetune/labels"]
PATCH = [
    ("messages[:-1], add_generation_prompt=True,",
     "messages[:-1], add_generation_prompt=False,"),
]
