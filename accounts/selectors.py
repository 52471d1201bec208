from accounts.models import User
from social.exceptions import NotFound, Unauthenticated

USER_NOT_FOUND = "Пользователь с таким именем не найден!"
WRONG_CREDENTIALS = "Проверьте введеные данные!"


def user_by_credentials(*, email: str, password: str) -> User:
    """The user these credentials belong to. Unknown email → NotFound (404, the contract's
    message); wrong password or an inactive account → Unauthenticated (401)."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    if not user.check_password(password) or not user.is_active:
        raise Unauthenticated(WRONG_CREDENTIALS)
    return user
