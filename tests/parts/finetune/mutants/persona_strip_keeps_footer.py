"""strip_gutenberg cuts only the header: everything after the start marker is kept, footer and license included."""

MODULE = "persona"
CAUGHT_BY = ["finetune/strip_gutenberg"]
PATCH = [
    ("    body = text[start.end() if start else 0:end.start() if end else len(text)]\n",
     "    body = text[start.end() if start else 0:]\n"),
]
