"""The initialisation bound is 1/in_features instead of 1/sqrt(in_features), so the weights are far too small."""

MODULE = "linear"
CAUGHT_BY = ["linear/init"]
PATCH = [
    ('bound = 1.0 / math.sqrt(in_features)',
     'bound = 1.0 / in_features'),
]
