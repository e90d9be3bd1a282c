"""Question 5: counts every parameter of the LoRA layer, the frozen base weight and bias included, as trainable."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q5_fresh_lora"]
PATCH = [("lora_trainable = sum(p.numel() for p in lora_layer.parameters() if p.requires_grad)",
          "lora_trainable = sum(p.numel() for p in lora_layer.parameters())")]
