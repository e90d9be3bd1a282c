"""merge_lora returns the model without merging its LoRA layers (the loop body was forgotten)."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('''    for layer in lora_layers(model).values():
        layer.merge()
    return model''',
     '''    return model'''),
]
