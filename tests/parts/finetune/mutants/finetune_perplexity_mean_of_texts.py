"""perplexity averages the perplexity of each text instead of pooling the negative log-likelihoods of all tokens."""

MODULE = "finetune"
CAUGHT_BY = ["finetune/perplexity"]
PATCH = [
    ('        total += torch.nn.functional.cross_entropy(logits, input_ids[0, 1:], reduction="sum").item()\n'
     '        count += len(ids) - 1\n',
     '        total += math.exp(torch.nn.functional.cross_entropy(logits, input_ids[0, 1:]).item())\n'
     '        count += 1\n'),
    ("    return math.exp(total / count)\n", "    return total / count\n"),
]
