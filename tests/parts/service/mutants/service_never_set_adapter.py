"""Never switches the adapter for a single-character generation, so the first adapter loaded answers for every character."""

MODULE = "service"
CAUGHT_BY = ['service/greedy_replies', 'service/concurrency']
PATCH = [
    ('self.model.set_adapter(character)',
     'pass  # the adapter was chosen when it was loaded'),
]
