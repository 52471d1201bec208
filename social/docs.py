"""The interactive API docs (/api/docs/). Not in social/schema.py: the AutoSchema there is
loaded while drf-spectacular's views are defined, and this view subclasses one of them."""

from drf_spectacular.views import SpectacularSwaggerSplitView

# Everything from this origin: no CDN, no inline script (the split view serves Swagger UI's
# start-up script as its own file). The page's one inline <style> and Swagger UI's data: icons
# are allowed by name.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


class SwaggerView(SpectacularSwaggerSplitView):
    """/api/docs/: Swagger UI from the app's own static files (drf-spectacular-sidecar), under a
    strict Content-Security-Policy."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response
