"""extract_lines recognises only 'said NAME' attributions, never 'NAME said' (after the quote or before it)."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_novel"]
PATCH = [
    ("for pattern in (_VERB_THEN_NAME, _NAME_THEN_VERB)",
     "for pattern in (_VERB_THEN_NAME,)"),
]
