"""An unknown character is answered with 400 Bad Request instead of 404."""

MODULE = "service"
CAUGHT_BY = ['service/api_errors']
PATCH = [
    ('return [], error(404, f"unknown character',
     'return [], error(400, f"unknown character'),
]
