"""unmerge only resets the merged flag and never subtracts the update from the base weight."""

MODULE = "lora"
CAUGHT_BY = ["lora/merge"]
PATCH = [
    ('        with torch.no_grad():\n            self.base.weight -= self.delta_weight()\n',
     ''),
]
