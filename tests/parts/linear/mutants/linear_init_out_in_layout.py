"""The weight is laid out like torch's, out_features rows of in_features, instead of [in_features][out_features]."""

MODULE = "linear"
CAUGHT_BY = ["linear/init"]
PATCH = [
    ('for _ in range(out_features)] for _ in range(in_features)]',
     'for _ in range(in_features)] for _ in range(out_features)]'),
]
