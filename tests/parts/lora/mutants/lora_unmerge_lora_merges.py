"""unmerge_lora calls merge() on every layer instead of unmerge() (a copy-paste slip)."""

MODULE = "lora"
CAUGHT_BY = ["lora/apply_lora"]
PATCH = [
    ('''    for layer in lora_layers(model).values():
        layer.unmerge()
    return model''',
     '''    for layer in lora_layers(model).values():
        layer.merge()
    return model'''),
]
