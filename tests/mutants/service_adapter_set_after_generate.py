"""Switches the adapter after generating instead of before, so each reply is spoken with the previous request's adapter."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies']
PATCH = [
    ('            self.model.set_adapter(adapters[0], inference_mode=True)  # the plain path: one adapter active\n',
     '            pass\n'),
    ('        used = tuple(sorted(set(adapters)))\n',
     '        if len(set(adapters)) == 1:\n            self.model.set_adapter(adapters[0], inference_mode=True)  # ready for the next one\n        used = tuple(sorted(set(adapters)))\n'),
]
