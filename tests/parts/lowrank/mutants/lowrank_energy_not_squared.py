"""rank_for_energy accumulates the singular values themselves instead of their squares."""

MODULE = "lowrank"
CAUGHT_BY = ["lowrank/rank_for_energy"]
PATCH = [
    ('squares = torch.linalg.svdvals(W.double()) ** 2',
     'squares = torch.linalg.svdvals(W.double())'),
]
