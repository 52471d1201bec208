"""JWT authentication for DRF: `Authorization: Bearer` (mobile) and the access cookie (web).

simplejwt has no cookie authentication; ours enforces CSRF the way DRF's
SessionAuthentication does, since a browser attaches the cookie to cross-site requests.
Both refuse tokens of an ended session (`accounts.services.session_end`) and inactive users.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken
from rest_framework_simplejwt.utils import aware_utcnow

from accounts.models import User
from accounts.selectors import SessionClaims, token_claims, token_user
from social.exceptions import CSRF_MESSAGE

# Access tokens this process verified (signature and claims), by their exact bytes: a client
# sends the same token with every request of its 15 minutes, and verifying it again (PyJWT's
# base64 checks, the HMAC, two JSON decodes) cost ~45 µs of every authenticated request's CPU
# (issue #26). Equal bytes verify equally: only the expiry moves with time, and it is checked
# again on every hit. What can end a token before it expires (logout, deactivation, deletion)
# is a row, read by the user query of every request (accounts.selectors.token_user), which this
# cache does not touch. Bounded: emptied when full (refilled at one verification per token).
_VERIFIED: dict[bytes, dict] = {}
VERIFIED_TOKENS_MAX = 4096


class _VerifiedAccessToken(AccessToken):
    """An AccessToken for bytes already verified: simplejwt's own claim checks (expiry, type,
    id) run again on the payload kept; the signature is not recomputed."""

    def __init__(self, token: bytes, payload: dict):
        self.token = token
        self.current_time = aware_utcnow()
        self.payload = dict(payload)  # the caller may add claims to its copy
        self.verify()


def verified_tokens_clear() -> None:
    """Forget every verified token (tests)."""
    _VERIFIED.clear()


class BearerAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"
    # Keep the tokens verified here (_VERIFIED): an HTTP client presents its token again and again.
    keep_verified = True

    def raw_token(self, request) -> bytes | None:
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            raise exceptions.AuthenticationFailed()
        return raw

    def authenticate(self, request):
        raw = self.raw_token(request)
        if raw is None:
            return None
        return self.authenticate_raw(raw)

    def get_validated_token(self, raw_token: bytes):
        payload = _VERIFIED.get(raw_token)
        if payload is not None:
            try:
                return _VerifiedAccessToken(raw_token, payload)
            except TokenError:
                # Expired since: simplejwt's own path gives the refusal, as for any bad token.
                _VERIFIED.pop(raw_token, None)
        token = super().get_validated_token(raw_token)
        if self.keep_verified and type(token) is AccessToken:  # the only class of AUTH_TOKEN_CLASSES
            if len(_VERIFIED) >= VERIFIED_TOKENS_MAX:
                _VERIFIED.clear()
            _VERIFIED[raw_token] = dict(token.payload)
        return token

    def get_user(self, validated_token) -> User:
        """The token's user, refused when unknown or inactive (as simplejwt's get_user does),
        when the token's session was ended, or when the token is older than the end of all
        the user's sessions: one query (accounts.selectors.token_user)."""
        user = token_user(validated_token)
        if user is None:
            raise exceptions.AuthenticationFailed()
        return user

    def authenticate_raw(self, raw):
        validated = self.get_validated_token(raw)
        return self.get_user(validated), validated


class CookieAuthentication(BearerAuthentication):
    def raw_token(self, request) -> bytes | None:
        value = request.COOKIES.get(settings.AUTH_COOKIE_ACCESS)
        return value.encode() if value else None

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            self.enforce_csrf(request)
        return result

    def enforce_csrf(self, request):
        def no_response(_request):
            return None  # pragma: no cover - never called, CsrfViewMiddleware needs one

        check = CsrfViewMiddleware(no_response)
        check.process_request(request)
        if check.process_view(request, None, (), {}) is not None:
            raise exceptions.PermissionDenied(CSRF_MESSAGE)


class SessionCheckInView:
    """For an APIView (mixed in before it) whose one statement also runs the token user's check
    (`accounts.selectors.session_user`), saving a statement of its own: each cost ~0.1 ms of
    CPU here and a round of PostgreSQL's per-statement work (issue #26; the feed).

    On PostgreSQL, for a request of `session_checked_methods` (a read's GET and HEAD; the like
    toggle's PATCH, whose statement applies the check's rule before it writes anything:
    `posts.services.like_toggle_of_session`) whose first authentication class is
    BearerAuthentication and that has an Authorization header, DRF's authentication step verifies the token as before (a
    malformed header or a bad token: the same 401 at the same point) and leaves the user check
    to the view: it reads `session_claims` and hands the user its statement found (or None) to
    `session_accept`, before anything else reads `request.user`. A refusal is the 401 that
    `get_user` gives. The permission check (IsAuthenticated) holds once the user is accepted.
    Otherwise (no header: the cookie; SQLite) DRF authenticates as for any view, and
    `session_claims` is None. A view that fails before its statement (a 400) calls
    `session_check` first: authentication answers before the view's own errors, as before."""

    # The methods whose handler runs the statement that carries the check.
    session_checked_methods = frozenset({"GET", "HEAD"})
    session_claims: SessionClaims | None = None
    _session_token = None

    def perform_authentication(self, request):
        self.session_claims = self._session_token = None
        first = request.authenticators[0] if request.authenticators else None
        # Only for the handlers that run such a statement: any other method (OPTIONS, a 405) has
        # no statement to carry the check, and is answered after DRF's own, as before.
        if (
            request.method in self.session_checked_methods
            and connection.vendor == "postgresql"
            and type(first) is BearerAuthentication
        ):
            try:
                raw = first.raw_token(request._request)
                if raw is not None:
                    token = first.get_validated_token(raw)
                    claims = token_claims(token)
                    if claims is None:  # no user could match: token_user's refusal
                        raise exceptions.AuthenticationFailed()
                    self.session_claims, self._session_token = claims, token
                    request._authenticator = first
                    return
            except exceptions.APIException:
                # What DRF's Request does when an authentication class raises.
                request._not_authenticated()
                raise
        super().perform_authentication(request)

    def check_permissions(self, request):
        if self.session_claims is None:
            super().check_permissions(request)

    def session_accept(self, request, user) -> None:
        """Make `user` (session_user's answer for `session_claims`) the request's user; None
        refuses the request (401)."""
        if user is None:
            request._not_authenticated()
            raise exceptions.AuthenticationFailed()
        request.user, request.auth = user, self._session_token

    def session_check(self, request) -> None:
        """The user check on its own (its own statement), when the view cannot run its own: the
        request then goes on as after DRF's own check (`session_claims` None)."""
        if self.session_claims is not None:
            self.session_accept(request, token_user(self._session_token))
            self.session_claims = None

    def session_read(self, request, *, checked, unchecked, before=(ValidationError,)):
        """The view's read: `checked(claims)` -> (the user its statement found for the token's
        claims, or None; the answer) when the check rides in the view's statement, else
        `unchecked(request.user)` -> the answer, after DRF's own check. `checked` may return
        None instead: this request's read cannot carry the check (the recommended page with a
        cursor, or without a fresh kept ranking); then the user check on its own, and
        `unchecked`. An error of `before` (a 400 found while parsing the query, before any
        statement ran) is raised after the user check on its own: authentication answers
        first, as for any view."""
        claims = self.session_claims
        if claims is None:
            return unchecked(request.user)
        try:
            read = checked(claims)
        except before:
            self.session_check(request)
            raise
        if read is None:
            self.session_check(request)
            return unchecked(request.user)
        user, answer = read
        self.session_accept(request, user)
        return answer


class _SocketAuthentication(BearerAuthentication):
    # A socket presents its token once, at its handshake: keeping it would only hold memory for
    # as long as the process runs, per socket opened (the idle sockets' budget).
    keep_verified = False


def user_from_access_token(raw: str):
    """(user, token) for a raw access token, or None: used by the WebSocket middleware."""
    try:
        return _SocketAuthentication().authenticate_raw(raw.encode())
    except (exceptions.AuthenticationFailed, TokenError):
        return None
