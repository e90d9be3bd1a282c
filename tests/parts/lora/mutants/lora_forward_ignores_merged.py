"""forward always adds the low-rank path, even after merge() has folded it into the base weight."""

MODULE = "lora"
CAUGHT_BY = ["lora/merge"]
PATCH = [
    ('        if self.merged:\n            return result\n',
     ''),
]
