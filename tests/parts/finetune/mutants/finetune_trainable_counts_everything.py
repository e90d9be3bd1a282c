"""train_adapter reports trainable_params as the count of every parameter of the model, not only those that train."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/trainable"]
PATCH = [
    ("trainable_params=sum(p.numel() for p in trainable)",
     "trainable_params=sum(p.numel() for p in peft_model.parameters())"),
]
