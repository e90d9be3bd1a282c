"""Leaves out the character's system prompt: the prompt is the chat template of the user's messages alone."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies']
PATCH = [
    ('conversation = [{"role": "system", "content": system_prompt}]',
     'conversation = []'),
]
