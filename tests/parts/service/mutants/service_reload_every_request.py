"""Reloads the character's adapter from disk (load_adapter) on every reply instead of switching to the copy already loaded."""

MODULE = "service"
CAUGHT_BY = ['service/loads_once']
PATCH = [
    ('            if name not in self.resident:\n                self.load(name)\n',
     '            self.load(name)  # make sure the adapter is there\n'),
]
