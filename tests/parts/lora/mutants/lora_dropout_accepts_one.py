"""The dropout check allows p = 1 (0 <= dropout <= 1), which would drop every input of the low-rank path."""

MODULE = "lora"
CAUGHT_BY = ["lora/validation"]
PATCH = [
    ('if not 0 <= dropout < 1:',
     'if not 0 <= dropout <= 1:'),
]
