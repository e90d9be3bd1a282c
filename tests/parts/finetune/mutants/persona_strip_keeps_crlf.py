"""strip_gutenberg never normalises Windows line endings, so '\\r' stays in the text it returns."""

MODULE = "persona"
CAUGHT_BY = ["finetune/strip_gutenberg"]
PATCH = [
    ('    text = text.replace("\\r\\n", "\\n").replace("\\r", "\\n").lstrip("\\ufeff")\n',
     '    text = text.lstrip("\\ufeff")\n'),
]
