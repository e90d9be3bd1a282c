"""relu keeps negatives at half strength (a leaky ReLU) instead of zeroing them."""

MODULE = "matmul"
CAUGHT_BY = ["matmul/relu"]
PATCH = [
    ('value if value > 0 else 0.0',
     'value if value > 0 else 0.5 * value'),
]
