"""train_adapter calls requires_grad_(True) on the wrapped model to 'make sure it trains', unfreezing the base model."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/trainable"]
PATCH = [
    ("    peft_model.train()\n",
     "    peft_model.train()\n    peft_model.requires_grad_(True)\n"),
]
