"""merge and unmerge update base.weight without torch.no_grad()."""

MODULE = "lora"
CAUGHT_BY = ["lora/merge"]
PATCH = [
    ('        with torch.no_grad():\n            self.base.weight += self.delta_weight()\n',
     '        self.base.weight += self.delta_weight()\n'),
    ('        with torch.no_grad():\n            self.base.weight -= self.delta_weight()\n',
     '        self.base.weight -= self.delta_weight()\n'),
]
