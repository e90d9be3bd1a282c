"""GET / returns chat_page() from a plain route, so the page is sent as a JSON string, not as text/html."""

MODULE = "service"
CAUGHT_BY = ['service/page']
PATCH = [
    ('    @app.get("/", response_class=HTMLResponse)\n    def page() -> HTMLResponse:\n        return HTMLResponse(chat_page())',
     '    @app.get("/")\n    def page():\n        return chat_page()'),
]
