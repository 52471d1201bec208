from rest_framework.renderers import JSONRenderer


class UTF8JSONRenderer(JSONRenderer):
    """JSON with Russian text as UTF-8, not \\u-escaped (CONTRACT-NOTES "General")."""

    ensure_ascii = False
    charset = "utf-8"
