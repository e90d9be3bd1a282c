"""extract_lines keeps only the first quoted piece of a paragraph, so a speech split by 'said NAME' loses its second half."""

MODULE = "persona"
CAUGHT_BY = ["finetune/extract_novel"]
PATCH = [
    ('        words = normalise_space(" ".join(speech))\n',
     '        words = normalise_space(speech[0]) if speech else ""\n'),
]
