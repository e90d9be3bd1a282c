"""apply_lora wraps the targets but never freezes the model's other parameters (embeddings, norms, other linears)."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('    for parameter in model.parameters():\n        parameter.requires_grad = False\n',
     ''),
]
