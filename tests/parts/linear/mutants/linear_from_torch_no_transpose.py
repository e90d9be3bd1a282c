"""from_torch copies torch's [out, in] weight as is, without transposing it to [in][out]."""

MODULE = "linear"
CAUGHT_BY = ["linear/from_torch"]
PATCH = [
    ('layer.weight = linear.weight.detach().T.tolist()',
     'layer.weight = linear.weight.detach().tolist()'),
]
