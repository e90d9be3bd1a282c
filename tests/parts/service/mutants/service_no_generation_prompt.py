"""Applies the chat template without add_generation_prompt=True, so the model is not prompted to start the assistant's turn."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies']
PATCH = [
    ('apply_chat_template(conversation, add_generation_prompt=True,',
     'apply_chat_template(conversation, add_generation_prompt=False,'),
]
