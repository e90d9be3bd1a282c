"""build_examples leaves out the system message: each example is only [user, assistant]."""

MODULE = "persona"
CAUGHT_BY = ["finetune/examples"]
PATCH = [
    ('            examples.append({"messages": [{"role": "system", "content": system},\n'
     '                                          {"role": "user", "content": prompt},\n',
     '            examples.append({"messages": [{"role": "user", "content": prompt},\n'),
]
