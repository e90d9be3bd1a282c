"""Question 5: initialises B randomly (to "learn faster"), so the fresh LoRA layer no longer equals its base."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q5_fresh_lora"]
PATCH = [("lora_layer = LoRALinear(base_layer, r=4, alpha=8)\n",
          "lora_layer = LoRALinear(base_layer, r=4, alpha=8)\n"
          "torch.nn.init.normal_(lora_layer.lora_B, std=0.02)\n")]
