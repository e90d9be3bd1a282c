"""relative_error returns the absolute error ||W - W_approx|| without dividing by ||W||."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/relative_error"]
PATCH = [
    ('return (torch.linalg.matrix_norm(W - W_approx) / torch.linalg.matrix_norm(W)).item()',
     'return torch.linalg.matrix_norm(W - W_approx).item()'),
]
