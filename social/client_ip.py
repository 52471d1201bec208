"""The client's IP address: one reading for REST, sockets, logs and metrics.

Behind proxies the address a process sees is the last proxy's; the client is further back in
`X-Forwarded-For`, where every proxy appends the address it saw. Only the last `NUM_PROXIES`
entries were written by proxies we run; anything before them is whatever the client sent. So
the client is the entry `NUM_PROXIES` hops from the end: a forged first hop is never read.

`NUM_PROXIES` also shapes the proxy of the production shape (deploy/nginx.conf.template): with
1, nginx is the only proxy and replaces the header with the address it saw; with 2 or more, a
TLS proxy stands in front and nginx appends to its header. The same count drives both.
"""

from django.conf import settings


def client_ip_from(*, forwarded_for: str | None, remote_addr: str | None) -> str:
    """The client's address from the `X-Forwarded-For` value and the peer's address."""
    if settings.NUM_PROXIES > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if hops:
            # Fewer hops than proxies: the first one is as far back as the header goes.
            return hops[-min(settings.NUM_PROXIES, len(hops))]
    return remote_addr or ""


def client_ip(request) -> str:
    """The client's address of a Django (or DRF) request."""
    meta = request.META
    return client_ip_from(forwarded_for=meta.get("HTTP_X_FORWARDED_FOR"), remote_addr=meta.get("REMOTE_ADDR"))


def scope_client_ip(scope) -> str:
    """The client's address of an ASGI scope (a WebSocket handshake, an ASGI request)."""
    # Several X-Forwarded-For headers are one list, in order (RFC 9110, 5.3).
    forwarded = [value.decode("latin-1") for name, value in scope.get("headers") or [] if name == b"x-forwarded-for"]
    peer = scope.get("client") or (None, None)
    return client_ip_from(forwarded_for=", ".join(forwarded) or None, remote_addr=peer[0])
