"""from_torch copies the weight but never copies the bias, so the layer keeps its random initial bias."""

MODULE = "linear"
CAUGHT_BY = ["linear/from_torch"]
PATCH = [
    ('        layer.bias = None if linear.bias is None else linear.bias.detach().tolist()\n',
     ''),
]
