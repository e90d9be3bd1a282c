"""The loss scores each position against its own label instead of the next token's (no shift)."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ('targets = batch["labels"][:, 1:]', 'targets = batch["labels"][:, :-1]'),
]
