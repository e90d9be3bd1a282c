"""repr shows in_features and out_features but leaves out the bias field."""

MODULE = "linear"
CAUGHT_BY = ["linear/repr"]
PATCH = [
    ('out_features={self.out_features}, "\n                f"bias={self.bias is not None})")',
     'out_features={self.out_features})")'),
]
