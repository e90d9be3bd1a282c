"""lora_state_dict returns the whole model.state_dict(), frozen base weights included, instead of only lora_A and lora_B."""

MODULE = "lora"
CAUGHT_BY = ["lora/state_dict"]
PATCH = [
    ('    state = {}\n    for name, layer in lora_layers(model).items():\n'
     '        state[f"{name}.lora_A"] = layer.lora_A.detach().clone()\n'
     '        state[f"{name}.lora_B"] = layer.lora_B.detach().clone()\n    return state\n',
     '    return {key: value.detach().clone() for key, value in model.state_dict().items()}\n'),
]
