"""Dropout is done with torch.nn.functional.dropout(x, p) whose training flag defaults to True, so it stays on in eval()."""

MODULE = "lora"
CAUGHT_BY = ["lora/dropout"]
PATCH = [
    ('self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()',
     'self.dropout = lambda x: nn.functional.dropout(x, dropout)'),
]
