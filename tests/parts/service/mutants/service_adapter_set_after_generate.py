"""Switches the adapter after generating instead of before, so each reply is spoken with the previous request's adapter."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies']
PATCH = [
    ('            self.activate(adapters[0])                 # the plain path: one adapter active\n',
     '            pass\n'),
    ('        used = tuple(sorted(set(adapters)))\n',
     '        if len(set(adapters)) == 1:\n            self.activate(adapters[0])  # ready for the next one\n        used = tuple(sorted(set(adapters)))\n'),
]
