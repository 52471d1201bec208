from django.conf import settings
from django.http import StreamingHttpResponse
from django.middleware.csrf import get_token
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts import selectors, services
from accounts.authentication import BearerAuthentication, CookieAuthentication
from accounts.cookies import clear_auth_cookies, set_auth_cookies
from accounts.export import EXPORT_FILENAME, export_stream
from accounts.serializers import (
    AccountDeleteInput,
    CredentialsInput,
    CsrfOutput,
    DetailOutput,
    LoginOutput,
    PasswordChangeInput,
    PasswordResetConfirmInput,
    PasswordResetInput,
    PrivacySettingsSerializer,
    ProfileUpdateInput,
    RefreshInput,
    RegisterInput,
    RegisterOutput,
    SessionOutput,
    TokenPairOutput,
    UserSerializer,
)
from accounts.throttles import LoginThrottle, PasswordResetThrottle, RegisterThrottle
from social.client_ip import client_ip
from social.exceptions import CSRF_MESSAGE, Forbidden, Unauthenticated
from social.parsers import JSONParser
from social.schema import error_responses
from social.throttles import per_user

REGISTERED = "Вы успешно зарегистрировались!"
LOGGED_IN = "Вы успешно вошли в аккаунт!"
LOGGED_OUT = "Вы успешно вышли из аккаунта"
SESSIONS_NOT_FOUND = error_responses({404: services.SESSION_NOT_FOUND})
PASSWORD_CHANGED = "Пароль изменён. Остальные сессии завершены."
RESET_MAIL_SENT = "Если такой email зарегистрирован, мы отправили на него письмо со ссылкой для сброса пароля."
PASSWORD_RESET_DONE = "Пароль изменён. Войдите с новым паролем."
FIELD_ERRORS = OpenApiResponse(description="Ошибки полей")

NOT_JSON = error_responses({415: "Тело не JSON (форма, multipart, text/plain)"})
CREDENTIAL_ERRORS = error_responses({401: selectors.WRONG_CREDENTIALS, 404: selectors.USER_NOT_FOUND})


def _client_of(request) -> dict:
    """What a new session records of its client (its user agent and IP, through NUM_PROXIES)."""
    return {"user_agent": request.META.get("HTTP_USER_AGENT", ""), "ip": client_ip(request)}


def _current_session_id(request) -> str | None:
    """The session of the token the request was authenticated with."""
    return request.auth.get(services.SESSION_CLAIM) if request.auth is not None else None


class PublicView(APIView):
    """Endpoints reachable without signing in. They ignore auth cookies on purpose: a stale
    cookie must never break login, register, refresh or csrf."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class CredentialsView(PublicView):
    """Register, login and token: JSON bodies only. They need no cookie, so CSRF cannot guard
    them, and a cross-site HTML form (urlencoded, multipart or text/plain: the bodies a form can
    send without a CORS preflight) could sign the victim's browser into the attacker's account
    (login CSRF). A form body answers 415 before anything is read."""

    parser_classes = [JSONParser]


class RegisterView(CredentialsView):
    throttle_classes = [RegisterThrottle]

    @extend_schema(
        request=RegisterInput,
        responses={
            201: RegisterOutput,
            400: OpenApiResponse(description="Ошибки полей"),
            **error_responses({403: "Неверный токен в заголовке Authorization"}),
            **NOT_JSON,
        },
    )
    def post(self, request):
        # The contract's 403: a client that sends a token which fails verification.
        if request.META.get("HTTP_AUTHORIZATION"):
            try:
                if BearerAuthentication().authenticate(request) is None:
                    raise AuthenticationFailed()
            except AuthenticationFailed as error:
                raise Forbidden(Unauthenticated.default_message) from error
        data = RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        body = {
            "message": REGISTERED,
            "new_user": UserSerializer(user, context={"request": request, "viewer": user}).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


class LoginView(CredentialsView):
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=CredentialsInput,
        responses={200: LoginOutput, **CREDENTIAL_ERRORS, **NOT_JSON},
        description="Sets the access/refresh cookies (HttpOnly) and the csrftoken cookie.",
    )
    def post(self, request):
        data = CredentialsInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = selectors.user_by_credentials(**data.validated_data)
        tokens = services.session_start(user=user, **_client_of(request))
        response = Response(
            {"detail": LOGGED_IN, "user": UserSerializer(user, context={"request": request, "viewer": user}).data}
        )
        set_auth_cookies(request, response, tokens)
        return response


class TokenView(CredentialsView):
    throttle_classes = [LoginThrottle]

    @extend_schema(request=CredentialsInput, responses={200: TokenPairOutput, **CREDENTIAL_ERRORS, **NOT_JSON})
    def post(self, request):
        data = CredentialsInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = selectors.user_by_credentials(**data.validated_data)
        tokens = services.session_start(user=user, **_client_of(request))
        return Response({"access": tokens.access, "refresh": tokens.refresh})


class TokenRefreshView(PublicView):
    @extend_schema(
        request=RefreshInput,
        responses={200: TokenPairOutput, **error_responses({401: Unauthenticated.default_message})},
        description="With `refresh` in the body: a new pair in the body. With an empty body: "
        "the refresh cookie is rotated, both cookies are set again and the body is `{}`.",
    )
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        raw = data.validated_data.get("refresh")
        if raw:
            tokens = services.session_refresh(raw_refresh=raw)
            return Response({"access": tokens.access, "refresh": tokens.refresh})
        cookie = request.COOKIES.get(settings.AUTH_COOKIE_REFRESH)
        if not cookie:
            raise Unauthenticated()
        tokens = services.session_refresh(raw_refresh=cookie)
        response = Response({})
        set_auth_cookies(request, response, tokens)
        return response


def _session_of(request) -> tuple[str | None, str | None, bool]:
    """(session id, raw refresh token, came from a cookie) for whatever the caller presents."""
    header = BearerAuthentication()
    try:
        raw_access = header.get_raw_token(header.get_header(request) or b"")
    except AuthenticationFailed:
        raw_access = None  # a bare or malformed `Authorization: Bearer` names no session
    from_cookie = False
    if raw_access is None and request.COOKIES.get(settings.AUTH_COOKIE_ACCESS):
        raw_access = request.COOKIES[settings.AUTH_COOKIE_ACCESS].encode()
        from_cookie = True
    raw_refresh = request.data.get("refresh") if isinstance(request.data, dict) else None
    if not raw_refresh and request.COOKIES.get(settings.AUTH_COOKIE_REFRESH):
        raw_refresh = request.COOKIES[settings.AUTH_COOKIE_REFRESH]
        from_cookie = from_cookie or raw_access is None
    session_id = None
    for raw, token_class in ((raw_access, AccessToken), (raw_refresh, RefreshToken)):
        if raw and session_id is None:
            try:
                session_id = token_class(raw.decode() if isinstance(raw, bytes) else raw).get(services.SESSION_CLAIM)
            except TokenError:
                continue
    return session_id, (raw_refresh if isinstance(raw_refresh, str) else None), from_cookie


class LogoutView(PublicView):
    @extend_schema(request=None, responses={200: DetailOutput, **error_responses({403: CSRF_MESSAGE})})
    def delete(self, request):
        session_id, raw_refresh, from_cookie = _session_of(request)
        if session_id and from_cookie:
            # A cookie-authenticated unsafe request: CSRF applies, as everywhere else.
            CookieAuthentication().enforce_csrf(request)
        services.session_end(session_id=session_id, raw_refresh=raw_refresh)
        response = Response({"detail": LOGGED_OUT})
        clear_auth_cookies(response)
        return response


class CurrentUserView(APIView):
    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user, context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": ProfileUpdateInput},
        responses={200: UserSerializer, 400: OpenApiResponse(description="Ошибки полей"), 401: DetailOutput},
        description='Multipart, as it may carry the avatar file; a JSON body `{"username"}` is accepted too.',
    )
    def patch(self, request):
        data = ProfileUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_profile_update(
            user=request.user,
            username=data.validated_data.get("username"),
            avatar=data.validated_data.get("avatar"),
        )
        return Response(UserSerializer(user, context={"request": request}).data)


class SettingsView(APIView):
    @extend_schema(responses={200: PrivacySettingsSerializer})
    def get(self, request):
        return Response(PrivacySettingsSerializer(request.user).data)

    @extend_schema(
        request=PrivacySettingsSerializer(partial=True),
        responses={200: PrivacySettingsSerializer, 400: FIELD_ERRORS},
        description="Any of the settings; answers all of them. Other keys are ignored.",
    )
    def patch(self, request):
        data = PrivacySettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_settings_update(user=request.user, changes=data.validated_data)
        return Response(PrivacySettingsSerializer(user).data)


class CsrfView(PublicView):
    @extend_schema(responses={200: CsrfOutput})
    def get(self, request):
        return Response({"csrfToken": get_token(request._request)})


class PasswordChangeView(APIView):
    @extend_schema(
        request=PasswordChangeInput,
        responses={200: DetailOutput, 400: FIELD_ERRORS},
        description="Every other session of the user ends (tokens refused, sockets closed 4401); this one goes on.",
    )
    def post(self, request):
        data = PasswordChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_password_change(
            user=request.user,
            session_id=_current_session_id(request),
            **data.validated_data,
        )
        return Response({"detail": PASSWORD_CHANGED})


class PasswordResetView(CredentialsView):
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(
        request=PasswordResetInput,
        responses={200: DetailOutput, 400: FIELD_ERRORS, **NOT_JSON},
        description="The same answer whether or not the email is registered. At most one mail "
        "per address per 5 minutes; the link is RESET_URL with `uid` and `token`.",
    )
    def post(self, request):
        data = PasswordResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response({"detail": RESET_MAIL_SENT})


class PasswordResetConfirmView(CredentialsView):
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(
        request=PasswordResetConfirmInput,
        responses={200: DetailOutput, 400: FIELD_ERRORS, **NOT_JSON},
        description="Sets the new password from a reset link; the token works once, and every "
        "session of the user ends.",
    )
    def post(self, request):
        data = PasswordResetConfirmInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return Response({"detail": PASSWORD_RESET_DONE})


class SessionsView(APIView):
    @extend_schema(responses={200: SessionOutput(many=True)})
    def get(self, request):
        sessions = selectors.user_sessions_active(user=request.user)
        context = {"current_session_id": _current_session_id(request)}
        return Response(SessionOutput(sessions, many=True, context=context).data)

    @extend_schema(
        operation_id="auth_sessions_end_others",
        request=None,
        responses={204: None},
        description="Ends every session but this one.",
    )
    def delete(self, request):
        services.user_sessions_end(user=request.user, keep_session_id=_current_session_id(request) or "")
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionView(APIView):
    @extend_schema(operation_id="auth_session_end", request=None, responses={204: None, **SESSIONS_NOT_FOUND})
    def delete(self, request, session_id: str):
        services.user_session_end(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountDeleteView(APIView):
    @extend_schema(
        request=AccountDeleteInput,
        responses={204: None, 400: FIELD_ERRORS},
        description="At once the account can no longer sign in, every session ends and the "
        "email and username are free; the rest is removed in the background. POST, not DELETE: "
        "a DELETE with a body cannot be described in the schema.",
    )
    def post(self, request):
        data = AccountDeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.account_delete(user=request.user, password=data.validated_data["password"])
        response = Response(status=status.HTTP_204_NO_CONTENT)
        clear_auth_cookies(response)
        return response


class ExportView(APIView):
    throttle_classes = [per_user("export")]

    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="ZIP attachment")},
        description="A streamed ZIP: `data.json` (profile, posts, liked post ids, comments, friends, chats with "
        "the user's own messages) and the user's original images (posts, avatar, photos of their messages) "
        "under `images/`.",
    )
    def get(self, request):
        response = StreamingHttpResponse(export_stream(user=request.user), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{EXPORT_FILENAME}"'
        return response
