"""extract_lines looks only for curly quotes, so a book typeset with straight double quotes yields no speech at all."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_novel"]
PATCH = [
    ("""    curly = paragraph.replace("“", '"').replace("”", '"')\n""",
     """    curly = paragraph.replace('"', "'").replace("“", '"').replace("”", '"')\n"""),
]
