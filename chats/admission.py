"""Who may be put in a chat with whom: the one rule that chat create and member add share."""

from collections.abc import Sequence
from uuid import UUID

from django.core.exceptions import ValidationError

from accounts.models import User

UNKNOWN_USERS = "Пользователи не найдены: {ids}."


def chat_admission_check(*, inviter: User, user_ids: Sequence[UUID]) -> list[User]:
    """May `inviter` put the users `user_ids` in a chat with themselves? Return those users,
    in the order given (duplicates and the inviter dropped).

    The ONE place this is decided: `chats.services.chat_create` (the members named at creation)
    and `chats.services.chat_members_add` (later additions) both call it, before they write.

    Today: every id must be an existing active user (ValidationError on `users` naming the
    others). Rules that refuse an existing user belong here too, raising
    `social.exceptions.Forbidden` (403) with their own message: a block between the inviter and
    a user (EXTENSIONS §5), and a user whose `chat_invites` is "friends" and who is not the
    inviter's friend (§8). One query today; each added rule should stay one query for the whole
    list, never one per user (a chat takes up to 500 members at once).
    """
    wanted = list(dict.fromkeys(user_id for user_id in user_ids if user_id != inviter.pk))
    found = {user.pk: user for user in User.objects.filter(pk__in=wanted, is_active=True)}
    missing = [str(user_id) for user_id in wanted if user_id not in found]
    if missing:
        raise ValidationError({"users": [UNKNOWN_USERS.format(ids=", ".join(missing))]})
    return [found[user_id] for user_id in wanted]
