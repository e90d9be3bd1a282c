"""Never switches the adapter for a single-character generation, so the first adapter loaded answers for every character."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies', 'service/concurrency']
PATCH = [
    ('self.activate(adapters[0])                 # the plain path: one adapter active',
     'pass  # the adapter was chosen when it was loaded'),
]
