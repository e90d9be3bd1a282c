"""extract_lines keeps stage directions in square brackets ('[_Aside._]') inside the character's speeches."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_play"]
PATCH = [
    ('    for line in re.sub(r"\\[[^\\]]*\\]", " ", text).splitlines():\n',
     '    for line in text.splitlines():\n'),
]
