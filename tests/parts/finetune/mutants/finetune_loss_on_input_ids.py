"""The training loss is computed against input_ids instead of labels, so it also trains on the prompt and the padding."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ('targets = batch["labels"][:, 1:]', 'targets = batch["input_ids"][:, 1:]'),
]
