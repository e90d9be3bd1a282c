"""extract_lines forgets a quotation left open at the end of a paragraph, so the paragraph that continues it counts as unattributed speech."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_novel"]
PATCH = [
    ("        carried = (speaker if speaker is not None else False) if left_open else None\n",
     "        carried = None\n"),
]
