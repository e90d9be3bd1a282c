"""merge has no already-merged guard, so a second merge() adds the update to the weight again."""

MODULE = "lora"
CAUGHT_BY = ["lora/merge"]
PATCH = [
    ('        if self.merged:\n            return\n        with torch.no_grad():\n            self.base.weight +=',
     '        with torch.no_grad():\n            self.base.weight +='),
]
