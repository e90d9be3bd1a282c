"""characters() returns the names sorted alphabetically instead of in the order they were given."""

MODULE = "service"
CAUGHT_BY = ['service/characters']
PATCH = [
    ('        return list(self._cast)\n',
     '        return sorted(self._cast)\n'),
]
