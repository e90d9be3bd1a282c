"""POST /api/chat answers {'response': reply} instead of {'character': ..., 'reply': ...}."""

MODULE = "service"
CAUGHT_BY = ['service/api_chat']
PATCH = [
    ('return {"character": body.character, "reply": reply}',
     'return {"response": reply}'),
]
