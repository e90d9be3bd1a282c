"""relative_error returns a 0-d tensor instead of a Python float (.item() forgotten)."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/relative_error"]
PATCH = [
    ('return (torch.linalg.matrix_norm(W - W_approx) / torch.linalg.matrix_norm(W)).item()',
     'return torch.linalg.matrix_norm(W - W_approx) / torch.linalg.matrix_norm(W)'),
]
