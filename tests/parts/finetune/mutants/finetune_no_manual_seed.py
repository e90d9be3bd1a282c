"""train_adapter never calls torch.manual_seed, so the adapter's random initialisation differs between runs with the same seed."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ("    torch.manual_seed(seed)\n", ""),
]
