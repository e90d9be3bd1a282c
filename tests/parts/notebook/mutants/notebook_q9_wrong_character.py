"""Question 9: registers the character as "Caterpillar" and asks it, so the service does not answer as Alice."""
MODULE = "lecture.ipynb"
CAUGHT_BY = ["notebook/q9_service"]
PATCH = [('[Character("Alice", adapter_dir, "You are Alice.")]',
          '[Character("Caterpillar", adapter_dir, "You are Alice.")]'),
         ('json={"character": "Alice", "max_new_tokens": 12,',
          'json={"character": "Caterpillar", "max_new_tokens": 12,')]
