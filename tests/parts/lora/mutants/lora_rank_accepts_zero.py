"""The rank check is r < 0 instead of r < 1, so r = 0 is not refused with a ValueError."""

MODULE = "lora"
CAUGHT_BY = ["lora/validation"]
PATCH = [
    ('if not isinstance(r, int) or r < 1:',
     'if not isinstance(r, int) or r < 0:'),
]
