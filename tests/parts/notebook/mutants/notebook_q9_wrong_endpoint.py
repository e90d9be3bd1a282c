"""Question 9: posts to /chat instead of /api/chat, so the reply is a 404 and not Alice's answer."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q9_service"]
PATCH = [('response = client.post("/api/chat",', 'response = client.post("/chat",')]
