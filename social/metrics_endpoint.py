"""`GET /api/metrics`: the Prometheus text format of the whole deployment (social/metrics.py).

Reachable only from METRICS_ALLOWED_CIDRS (default: loopback), judged by the real client IP,
or with `Authorization: Bearer <METRICS_TOKEN>`; anyone else gets a JSON 403. A plain Django
view, not DRF's: a scraper's bearer token is not a JWT and must not meet our authentication.
The proxy (deploy/nginx.conf.template) refuses the path itself to anyone outside the machine
who brings no bearer token.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse

from social import metrics
from social.client_ip import client_ip
from social.errors import NOT_FOUND_MESSAGE, detail_response
from social.exceptions import Forbidden

METHOD_NOT_ALLOWED = 'Метод "{method}" не разрешен.'


def _allowed_networks() -> tuple:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in settings.METRICS_ALLOWED_CIDRS)


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False  # no address, or a forwarded value that is none: never trusted
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _allowed_networks())


def _token_allowed(request) -> bool:
    expected = settings.METRICS_TOKEN
    if not expected:
        return False
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def metrics_view(request):
    if not settings.METRICS_ENABLED:
        return detail_response(NOT_FOUND_MESSAGE, 404)
    if request.method not in ("GET", "HEAD"):
        response = detail_response(METHOD_NOT_ALLOWED.format(method=request.method), 405)
        response["Allow"] = "GET, HEAD"
        return response
    if not (_token_allowed(request) or _address_allowed(client_ip(request))):
        return detail_response(Forbidden.default_message, 403)
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
