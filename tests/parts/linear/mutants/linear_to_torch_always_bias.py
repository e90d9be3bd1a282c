"""to_torch always builds nn.Linear with a bias, so a bias-free layer gets torch's random bias."""

MODULE = "linear"
CAUGHT_BY = ["linear/to_torch"]
PATCH = [
    ('torch.nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)',
     'torch.nn.Linear(self.in_features, self.out_features)'),
]
