"""Always samples (do_sample=True), even at temperature 0, so replies are random instead of greedy."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies']
PATCH = [
    ('{"do_sample": False} if temperature == 0 else',
     '{"do_sample": True} if temperature == 0 else'),
]
