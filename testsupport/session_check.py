"""Shared setup of the tests of the views whose statement carries the user check
(accounts.authentication.SessionCheckInView, issue #26): such a view must refuse every token the
other endpoints refuse, with the same 401, before its own 400s and 404s, and answer an accepted
Bearer caller exactly as DRF's own authentication answers a cookie caller.

- `bearer_client(raw)`, `cookie_client(user)`: the two ways in;
- `refused_tokens`: every way a token stops being accepted (a parametrize list of
  `refuse(user, tokens)`), and `refused_token(user)`, a token of a session already ended;
- `answers_alike(client, path)`: what a view answers beside what another endpoint answers the
  same credentials;
- `walk_alike(by_token, by_cookie, path)`: both callers walk the same pages.
"""

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.tests.factories import PASSWORD
from social.pagination import encode_cursor
from testsupport.pages import next_url

# Authenticated by DRF's own step (no check in a view): the answer every refusal must match.
ELSEWHERE = "/api/auth/current_user"
# The headers a refusal carries.
AUTH_HEADERS = ("WWW-Authenticate", "Content-Type", "Cache-Control", "Vary")
# The headers a page carries, the same whichever way its caller came in.
PAGE_HEADERS = ("Content-Type", "Cache-Control", "Vary", "Link", "Allow", "X-Frame-Options")
# Well formed, but its values are not a timestamp and an id: found when the statement is built.
UNPARSED_CURSOR = f"?cursor={encode_cursor(['x', 'y'])}"
# User id claims of a signed token that no user can have ("missing": no claim at all).
UNUSABLE_USER_IDS = ["not-a-uuid", "", None, "missing"]


def bearer_client(raw: str) -> APIClient:
    """A client that sends `Authorization: Bearer <raw>`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def cookie_client(user) -> APIClient:
    """A client signed in as `user` with cookies (a browser's way: DRF's own authentication)."""
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return client


def token_with_user_id(user_id) -> str:
    """A signed access token whose user id claim is `user_id` ("missing": none)."""
    token = AccessToken()
    if user_id != "missing":
        token[settings.SIMPLE_JWT["USER_ID_CLAIM"]] = user_id
    return str(token)


def refused_token(user) -> str:
    """An access token of `user`'s session that was ended (logged out)."""
    tokens = services.session_start(user=user)
    services.session_end(session_id=AccessToken(tokens.access)["sid"])
    return tokens.access


def _inactive(user, tokens):
    type(user).objects.filter(pk=user.pk).update(is_active=False)  # no session end: only the flag


def _deactivated(user, tokens):
    services.user_deactivate(user=user)


def _logged_out(user, tokens):
    services.session_end(session_id=AccessToken(tokens.access)["sid"])


def _all_sessions_ended(user, tokens):
    services.user_sessions_end(user=user)


def _deleted(user, tokens):
    user.delete()


# Every way an accepted token of `user` (`tokens`: accounts.services.session_start's) is refused
# from then on, for `@pytest.mark.parametrize("refuse", refused_tokens)`.
refused_tokens = [
    pytest.param(refuse, id=refuse.__name__.lstrip("_"))
    for refuse in (_inactive, _deactivated, _logged_out, _all_sessions_ended, _deleted)
]


def answers_alike(client, path: str) -> list:
    """[(status, body, the headers a refusal carries) of `path`, the same of another endpoint
    with the same credentials]."""
    mine, theirs = client.get(path), client.get(ELSEWHERE)
    return [(r.status_code, r.content, [r.headers.get(h) for h in AUTH_HEADERS]) for r in (mine, theirs)]


def walk_alike(by_token: APIClient, by_cookie: APIClient, path: str, *, own_walks: bool = False) -> list:
    """Walk the pages from `path` with both clients, each page a 200 with the same body and
    headers for both; the token's pages. `own_walks`: each client follows its own `Link` (a
    recommended walk is a snapshot per first page, so the cursors differ): the same items,
    and the same headers but `Link`."""
    token_path = cookie_path = path
    pages = []
    while token_path:
        mine, theirs = by_token.get(token_path), by_cookie.get(cookie_path)
        assert mine.status_code == theirs.status_code == 200
        if own_walks:
            assert mine.json() == theirs.json()
        else:
            assert mine.content == theirs.content
        for header in PAGE_HEADERS:
            if not (own_walks and header == "Link"):
                assert mine.headers.get(header) == theirs.headers.get(header), header
        pages.append(mine)
        token_path, cookie_path = next_url(mine), next_url(theirs)
        assert (token_path is None) == (cookie_path is None)
    return pages
