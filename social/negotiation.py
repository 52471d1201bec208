"""Content negotiation: DRF's, without its parsing for the Accept headers API clients send."""

from rest_framework.negotiation import DefaultContentNegotiation

# Accept headers whose answer from a one-renderer view is known without parsing them: absent
# (DRF reads it as */*), */*, or exactly the renderer's own type. An empty header is not one
# of them: DRF answers it 406.
_PLAIN_ACCEPTS = frozenset({None, "*/*"})


class ContentNegotiation(DefaultContentNegotiation):
    """DefaultContentNegotiation, which splits and parses the Accept header into media types,
    orders them and matches them against the renderers on every request (with the header
    dict it builds from every request header: ~0.1 ms of an authenticated request's CPU under
    a profile, issue #26). Every API view has one renderer (UTF8JSONRenderer) and the clients
    send no Accept, `*/*` or `application/json`: for those DRF's answer is always (that
    renderer, its media type), given here directly. Anything else (another header, a format
    suffix or `?format=`, a view with several renderers: the schema's) goes DRF's way."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and not format_suffix:
            renderer = renderers[0]
            accept = request._request.META.get("HTTP_ACCEPT")
            if (accept in _PLAIN_ACCEPTS or accept == renderer.media_type) and not request.query_params.get(
                self.settings.URL_FORMAT_OVERRIDE
            ):
                return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
