"""Batches pad the labels with the pad token id instead of -100, so padding counts in the loss."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ('"labels": column("labels", -100)', '"labels": column("labels", pad_id)'),
]
