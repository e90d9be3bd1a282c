"""persona.py whose tokenize_examples renders the prompt and the reply as text and tokenizes them separately.

The rest is the reference's. Concatenating the ids of the rendered prompt and of the rendered reply gives
the same ids as tokenizing the whole conversation whenever the tokenizer does not merge across the
boundary after the generation prompt (true of ChatML's '<|im_start|>assistant\\n'), so the labels mask
exactly the prompt's tokens.
"""

ALTERNATE_FOR = "persona"
PATCH = [
    ("""        prompt = list(tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True,
                                                    return_dict=False))
        full = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))
        if full[:len(prompt)] != prompt:
""",
     """        prompt_text = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
        full_text = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full_text.startswith(prompt_text):
"""),
    ("""        labels = [-100] * len(prompt) + full[len(prompt):]
        full, labels = full[:max_length], labels[:max_length]
        if all(label == -100 for label in labels):
""",
     """        prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
        reply = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
        full, labels = (prompt + reply)[:max_length], ([-100] * len(prompt) + reply)[:max_length]
        if len(full) <= len(prompt):
"""),
]
