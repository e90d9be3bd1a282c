"""train_adapter returns the model it was given instead of the PeftModel that get_peft_model wrapped around it."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/trainable"]
PATCH = [
    ("    return TrainingResult(model=peft_model,",
     "    return TrainingResult(model=model,"),
]
