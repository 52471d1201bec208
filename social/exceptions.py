"""The domain's error hierarchy.

Services raise these (or Django's ValidationError / PermissionDenied / ObjectDoesNotExist);
`social.errors.exception_handler` turns them into HTTP answers and the chat consumer into
error frames, so each message a client sees is written once, here or in the service.
"""

from django.core.exceptions import ValidationError

# A cookie-authenticated unsafe request without a valid X-CSRFToken (DRF and Django's view).
CSRF_MESSAGE = "Ошибка проверки CSRF: отсутствует или неверный токен."


# A malformed user id in a body: DRF's Russian catalogue has no UUID message (it answers in English).
INVALID_USER_ID = "Некорректный идентификатор пользователя."


class DomainError(Exception):
    status_code = 400
    default_message = "Некорректный запрос."

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class NotFound(DomainError):
    status_code = 404
    default_message = "Не найдено."


class PostNotFound(NotFound):
    default_message = "Пост не найден."


class CommentNotFound(NotFound):
    default_message = "Комментарий не найден."


class UserNotFound(NotFound):
    """No such user, or a deactivated one (which the API treats alike)."""

    default_message = "Пользователь не найден."


class Forbidden(DomainError):
    status_code = 403
    default_message = "У вас недостаточно прав для выполнения данного действия."


def acting_as_check(*, user_id, caller, message: str | None = None) -> None:
    """The one "act as yourself" rule: a `<user_id>` (or `author`) that names who acts must be
    the caller; acting as anyone else is a 403 (CONTRACT-NOTES "General"), with the context's
    message when given (creating a post, liking, friendships)."""
    if user_id != caller.pk:
        raise Forbidden(message)


class Blocked(DomainError):
    """A block stands between the two users (safety): friend add, a chat that would hold both,
    a message in their direct chat. A 403 like Forbidden, but not one: a chat socket closes
    4403 on Forbidden (no longer a member), while a blocked send only answers an error frame."""

    status_code = 403
    default_message = "Действие невозможно: один из пользователей заблокировал другого."


class Conflict(DomainError):
    status_code = 409
    default_message = "Конфликт с текущим состоянием."


class Unauthenticated(DomainError):
    """Every authentication failure: one message (the contract's), whatever went wrong."""

    status_code = 401
    default_message = "Не удалось подтвердить учетные данные"


class InvalidCursor(ValidationError):
    """A page cursor that is malformed or no longer valid: `{"cursor": [message]}` (400)."""

    default_message = "Некорректный курсор."

    def __init__(self, message: str | None = None):
        super().__init__({"cursor": [message or self.default_message]})


class PayloadTooLarge(DomainError):
    status_code = 413
    default_message = "Слишком большой запрос."


class ServiceUnavailable(DomainError):
    """A dependency (database, Redis, storage) did not answer: retry after a while
    (social/outages.py tells an outage apart from a bug)."""

    status_code = 503
    # The proxy's own 502/504 answer the same text (deploy/nginx.conf.template).
    default_message = "Сервис временно недоступен."
