"""The generator is random.Random() without the seed, so the same seed gives different layers."""

MODULE = "linear"
CAUGHT_BY = ["linear/init"]
PATCH = [
    ('rng = random.Random(seed)',
     'rng = random.Random()'),
]
