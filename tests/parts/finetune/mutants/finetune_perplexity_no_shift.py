"""perplexity scores each position's logits against the token at that same position instead of the next one."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/perplexity"]
PATCH = [
    ('cross_entropy(logits, input_ids[0, 1:], reduction="sum")',
     'cross_entropy(logits, input_ids[0, :-1], reduction="sum")'),
]
