"""Switches the adapter after generating instead of before, so each reply is spoken with the previous request's adapter."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies']
PATCH = [
    ('            self.model.set_adapter(character)\n            output = self.model.generate(',
     '            output = self.model.generate('),
    ('                                         **options)\n',
     '                                         **options)\n            self.model.set_adapter(character)  # ready for the next one\n'),
]
