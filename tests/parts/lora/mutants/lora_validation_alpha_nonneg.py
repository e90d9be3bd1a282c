"""alpha is checked with alpha >= 0, so alpha = 0 (a zero update) is accepted."""

MODULE = "lora"
CAUGHT_BY = ["lora/validation"]
PATCH = [
    ('if not alpha > 0:', 'if not alpha >= 0:'),
]
