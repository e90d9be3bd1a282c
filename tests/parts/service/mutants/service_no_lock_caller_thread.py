"""No worker and no lock: each reply calls set_adapter and generate in the caller's thread, so simultaneous requests cross adapters."""

MODULE = "service"
CAUGHT_BY = ['service/concurrency']
PATCH = [
    ('        with self._lock, torch.inference_mode():\n',
     '        with torch.inference_mode():  # no lock: every caller generates at once\n'),
]
