"""No worker and no lock: each reply calls set_adapter and generate in the caller's thread, so simultaneous requests cross adapters."""

MODULE = "service"
CAUGHT_BY = ['service/concurrency']
PATCH = [
    ('    def submit(self, request: _Request) -> None:\n        with self.lock:\n',
     "    def submit(self, request: _Request) -> None:\n        self.serve([request])  # answer right here, in the caller's thread\n        return\n        with self.lock:\n"),
]
