"""Error responses are plain text messages instead of JSON objects with an 'error' field."""

MODULE = "service"
CAUGHT_BY = ['service/api_errors']
PATCH = [
    ('from fastapi.responses import HTMLResponse, JSONResponse\n',
     'from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse\n'),
    ('        return JSONResponse({"error": message}, status_code=status)',
     '        return PlainTextResponse(message, status_code=status)'),
]
