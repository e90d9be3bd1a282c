"""to_torch copies the [in][out] weight into torch's [out, in] weight without transposing it (.T missing)."""

MODULE = "linear"
CAUGHT_BY = ["linear/to_torch"]
PATCH = [
    ('torch.tensor(self.weight, dtype=linear.weight.dtype).T)',
     'torch.tensor(self.weight, dtype=linear.weight.dtype))'),
]
