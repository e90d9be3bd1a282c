"""load_lora_state_dict rebinds a local name (parameter = state[key]) instead of copying into the parameter."""

MODULE = "lora"
CAUGHT_BY = ["lora/state_dict"]
PATCH = [
    ('            parameter.copy_(state[key])',
     '            parameter = state[key]'),
]
