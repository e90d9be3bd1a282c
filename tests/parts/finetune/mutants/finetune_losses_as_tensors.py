"""train_adapter appends the loss tensor itself to losses instead of loss.item(), so TrainingResult.losses is not a list of floats."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/loss_falls"]
PATCH = [
    ("        losses.append(loss.item())\n",
     "        losses.append(loss.detach())\n"),
]
