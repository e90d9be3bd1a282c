"""Reloads the character's adapter from disk (load_adapter) on every reply instead of switching to the copy already loaded."""

MODULE = "service"
CAUGHT_BY = ['service/loads_once']
PATCH = [
    ('        with self._lock, torch.inference_mode():\n',
     '        self.model.load_adapter(str(self._cast[character].adapter_path), adapter_name=character)  # fresh\n'
     '        with self._lock, torch.inference_mode():\n'),
]
