"""Leave request bodies to Django under daphne.

Twisted's `http.Request` (daphne's base class) parses every multipart or urlencoded POST body
itself, into `request.args` that daphne never reads. A multipart body it cannot parse (a form
with no parts, `--boundary--`, which generated clients send for an empty form) makes Twisted
answer 400 with no body and no Content-Type before the application sees the request: the API's
own parsers never get to answer it in its error language. It also holds a second, parsed copy of
every upload (up to 105 MB) in memory. Twisted lets a request skip that parse
(`parsePOSTFormSubmission`); this turns it off for daphne's requests.
"""


def leave_request_bodies_to_django() -> None:
    """Patch daphne's request class once; a no-op where daphne is not installed."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # pragma: no cover - served by another ASGI server
        return
    if getattr(WebRequest, "_social_bodies_left_to_django", False):
        return
    original = WebRequest.__init__

    def init_without_form_parsing(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = init_without_form_parsing
    WebRequest._social_bodies_left_to_django = True
